"""Hostile input and faults (issue 6): odd uploads, the security settings, interrupted
training. Canvas oddities are in test_page_draw.py, checkpoints in test_checkpoint.py,
MNIST files in test_data.py, grids in the teaching pages' tests."""

from __future__ import annotations

import ast
import io
import signal
import subprocess
import sys
import time
import tomllib

import numpy as np
import pytest
from PIL import Image

from lenet.checkpoint import load_checkpoint, read_card
from lenet.preprocess import MAX_UPLOAD_PIXELS, UploadError, open_upload, photo_steps
from lenet_testkit.apptest import PAGES, ROOT
from lenet_testkit.digits import render
from tests.mnist_files import idx_bytes


def png_bytes(image: Image.Image, **kw) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=kw.pop("format", "PNG"), **kw)
    return buffer.getvalue()


def paper_digit(digit: int = 7) -> Image.Image:
    """Dark ink on light paper, like a photo of a handwritten digit."""
    ink = render(digit, size=200, width=16)[..., 0]
    return Image.fromarray((235 - ink * 0.8).astype(np.uint8), mode="L")


def noisy_png() -> bytes:
    noise = np.random.default_rng(0).integers(0, 255, (300, 300), dtype=np.uint8)
    return png_bytes(Image.fromarray(noise))


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "not_image"),
        (b"GIF89a this is not a png at all", "not_image"),
        (b"%PDF-1.4 pretending to be digit.png", "not_image"),
        (noisy_png()[:2000], "truncated"),
        (png_bytes(Image.new("L", (64, 64)), format="BMP"), "not_image"),  # not PNG/JPEG
    ],
    ids=["empty", "gif-text", "pdf", "truncated-png", "bmp"],
)
def test_bad_files_get_a_reason(data, reason):
    with pytest.raises(UploadError) as e:
        open_upload(data)
    assert e.value.reason == reason


def test_decompression_bomb_is_refused_before_decoding():
    # A 20000x20000 black PNG compresses to a few hundred KB... make it cheaply with a
    # palette image of a huge size: Pillow only reads the header before refusing.
    bomb = png_bytes(Image.new("1", (20_000, 20_000)))
    assert len(bomb) < 200_000
    assert 20_000 * 20_000 > MAX_UPLOAD_PIXELS
    started = time.perf_counter()
    with pytest.raises(UploadError) as e:
        open_upload(bomb)
    assert e.value.reason == "too_many_pixels"
    assert time.perf_counter() - started < 5


def test_pillow_pixel_limit_is_set_deliberately():
    assert Image.MAX_IMAGE_PIXELS == MAX_UPLOAD_PIXELS


def test_file_larger_than_the_cap_is_refused():
    with pytest.raises(UploadError) as e:
        open_upload(b"\x89PNG" + b"\0" * (6 * 1024 * 1024))
    assert e.value.reason == "too_large"


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "CMYK", "I;16", "LA"])
def test_odd_modes_are_read(mode):
    image = paper_digit()
    if mode == "I;16":
        image = Image.fromarray(np.asarray(image).astype(np.uint16) * 257)
    elif mode != "L":
        image = image.convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    opened, _ = open_upload(png_bytes(image, format=fmt))
    steps = photo_steps(opened)
    assert steps is not None
    reference = photo_steps(paper_digit()).centred28.astype(float)
    corr = np.corrcoef(steps.centred28.astype(float).ravel(), reference.ravel())[0, 1]
    assert corr > 0.85, mode


def test_animated_png_uses_the_first_frame_and_says_so():
    frames = [paper_digit(7), paper_digit(1)]
    data = png_bytes(frames[0], save_all=True, append_images=frames[1:], duration=100)
    image, notes = open_upload(data)
    assert "animated" in notes
    first = photo_steps(image).centred28
    assert np.array_equal(first, photo_steps(frames[0]).centred28)


def test_exif_rotated_photo_is_turned_upright():
    image = paper_digit(7)
    rotated = image.rotate(90, expand=True)  # stored sideways ...
    exif = Image.Exif()
    exif[274] = 6  # ... with "rotate 90 CW to display"
    data = png_bytes(rotated.convert("RGB"), format="JPEG", exif=exif.tobytes())
    opened, _ = open_upload(data)
    upright = photo_steps(opened).centred28.astype(float)
    reference = photo_steps(image).centred28.astype(float)
    assert np.corrcoef(upright.ravel(), reference.ravel())[0, 1] > 0.8


def test_streamlit_security_settings():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    server = config["server"]
    assert server["enableXsrfProtection"] is True
    assert server["enableCORS"] is True
    assert server["enableStaticServing"] is False
    assert 1 <= server["maxUploadSize"] <= 10
    assert config["browser"]["gatherUsageStats"] is False
    assert config["client"]["showErrorDetails"] == "none"


@pytest.mark.parametrize(
    "path",
    [
        "app.py",
        *PAGES,
        *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "lenet").rglob("*.py")),
    ],
)
def test_no_unsafe_html(path):
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "unsafe_allow_html":
            assert isinstance(node.value, ast.Constant) and node.value.value is False, (
                f"{path}:{node.value.lineno} passes unsafe_allow_html"
            )
        if isinstance(node, ast.Attribute) and node.attr == "html":
            pytest.fail(f"{path}:{node.lineno} uses st.html")


def tiny_mnist(root, n_train=1500, n_test=300):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = np.zeros((n, 28, 28), np.uint8)
        for i, label in enumerate(labels):  # a learnable pattern: a bar at the label's row
            images[i, 2 + 2 * label : 4 + 2 * label, 4:24] = 255
        (root / f"{prefix}-images-idx3-ubyte").write_bytes(idx_bytes(images))
        (root / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes(labels))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_training_interrupted_by_a_signal_keeps_the_checkpoint_and_resumes(tmp_path, sig):
    tiny_mnist(tmp_path)
    out = tmp_path / "model.safetensors"
    base = [
        sys.executable,
        "-m",
        "lenet.train",
        "--variant",
        "classic",
        "--data",
        str(tmp_path),
        "--out",
        str(out),
        "--batch-size",
        "32",
        "--quiet",
        "--threads",
        "1",
    ]
    proc = subprocess.Popen([*base, "--epochs", "50"], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert out.exists(), "no checkpoint was written"
    time.sleep(0.3)  # somewhere inside a later epoch (or a save)
    proc.send_signal(sig)
    stderr = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, stderr
    assert "--resume" in stderr
    done = read_card(out)["epochs_trained"]
    assert 1 <= done < 50
    load_checkpoint(out)  # intact
    assert not list(tmp_path.glob("*.tmp")), "a temporary file was left behind"
    resumed = subprocess.run(
        [*base, "--epochs", str(done + 1), "--resume"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    card = read_card(out)
    assert card["epochs_trained"] == done + 1
    assert [h["epoch"] for h in card["history"]] == list(range(1, done + 2))


@pytest.mark.parametrize(
    "fmt, size", [("PNG", (4000, 3001)), ("JPEG", (4000, 3001)), ("PNG", (20_000, 20_000))]
)
def test_too_many_pixels_reports_the_count_and_the_limit(fmt, size):
    """Pillow's decompression-bomb warning (above the limit) and error (above twice the
    limit) come before our own check: the message still has the real count, formatted."""
    from lenet.i18n import translate

    data = png_bytes(Image.new("L", size), format=fmt)
    with pytest.raises(UploadError) as e:
        open_upload(data, max_bytes=50 * 2**20)
    assert e.value.reason == "too_many_pixels"
    assert e.value.fields == {"pixels": size[0] * size[1], "max_pixels": MAX_UPLOAD_PIXELS}
    count = f"{size[0] * size[1]:,}"
    for lang in ("en", "zh"):
        message = translate("draw.upload_too_many_pixels", lang, **e.value.fields)
        assert count in message and "12,000,000" in message, message
