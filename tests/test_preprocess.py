"""Tests for lenet.preprocess: canvas and photo to MNIST's 28x28 recipe, and to the tensor the
network reads."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from lenet.model import LeNet5, LeNetConfig
from lenet.preprocess import canvas_steps, canvas_to_mnist, photo_steps, to_tensor
from lenet_testkit.digits import STROKES, render

DIGITS = sorted(STROKES)


def ink_box(img: np.ndarray, threshold: int = 0) -> tuple[int, int]:
    """(height, width) of the bounding box of pixels above ``threshold``."""
    rows = np.flatnonzero((img > threshold).any(axis=1))
    cols = np.flatnonzero((img > threshold).any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def centre_of_mass(img: np.ndarray) -> tuple[float, float]:
    m = img.astype(np.float64)
    ys, xs = np.indices(img.shape)
    return float((ys * m).sum() / m.sum()), float((xs * m).sum() / m.sum())


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(np.float64), b.ravel().astype(np.float64))[0, 1])


def shifted(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    return np.roll(np.roll(img, dy, axis=0), dx, axis=1)


def blur(img: np.ndarray) -> np.ndarray:
    """3x3 box blur."""
    p = np.pad(img.astype(np.float64), 1)
    h, w = img.shape
    return sum(p[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)) / 9.0


def best_corr(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of the slightly blurred images, allowing a one-pixel shift: the centre
    of mass is rounded to whole pixels and the fitted width to whole pixels, so the same
    digit drawn at another size may land a pixel over or come out a pixel narrower."""
    a, b = blur(a), blur(b)
    return max(corr(a, shifted(b, dy, dx)) for dy in (-1, 0, 1) for dx in (-1, 0, 1))


def assert_mnist_like(img: np.ndarray) -> None:
    assert img.shape == (28, 28)
    assert img.dtype == np.uint8
    assert img.max() >= 200  # the ink is bright
    h, w = ink_box(img)
    assert 19 <= max(h, w) <= 21, (h, w)  # fit to 20 px (anti-aliasing may add one)
    cy, cx = centre_of_mass(img)
    assert abs(cy - 13.5) <= 1.0 and abs(cx - 13.5) <= 1.0, (cy, cx)


# -------------------------------------------------------------------------------------------
# canvas drawings
# -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("digit", DIGITS)
def test_canvas_digit_follows_mnists_recipe(digit):
    img = canvas_to_mnist(render(digit))
    assert_mnist_like(img)
    # a border of background around the 20-px digit, as in MNIST
    assert img[0].max() == img[-1].max() == img[:, 0].max() == img[:, -1].max() == 0


def test_canvas_keeps_the_aspect_ratio():
    one = canvas_to_mnist(render(1))
    h, w = ink_box(one, threshold=60)
    assert h >= 19 and w <= 10  # a "1" stays tall and thin, not stretched to 20x20
    zero = canvas_to_mnist(render(0))
    h0, w0 = ink_box(zero, threshold=60)
    canvas_h, canvas_w = ink_box(render(0)[..., 0])
    assert w0 / h0 == pytest.approx(canvas_w / canvas_h, abs=0.12)


def test_stroke_touching_the_border():
    canvas = np.zeros((280, 280, 4), np.uint8)
    canvas[..., 3] = 255
    canvas[0:200, 0:20, :3] = 255  # a thick bar from the top-left corner down
    canvas[180:200, 0:120, :3] = 255  # and a foot along it: an L shape touching two edges
    img = canvas_to_mnist(canvas)
    assert_mnist_like(img)
    h, w = ink_box(img, threshold=60)
    assert h > w  # taller than wide, like the drawing


def test_single_dot_becomes_a_filled_disc():
    canvas = np.zeros((280, 280, 4), np.uint8)
    canvas[..., 3] = 255
    ys, xs = np.indices((280, 280))
    canvas[(ys - 60) ** 2 + (xs - 200) ** 2 <= 8**2, :3] = 255  # off-centre small disc
    img = canvas_to_mnist(canvas)
    assert_mnist_like(img)
    h, w = ink_box(img, threshold=128)
    assert abs(h - w) <= 1  # still round
    assert img[13:15, 13:15].min() >= 200  # filled in the middle


def test_full_white_canvas():
    canvas = np.full((280, 280, 4), 255, np.uint8)
    img = canvas_to_mnist(canvas)
    assert img.shape == (28, 28)
    h, w = ink_box(img, threshold=128)
    assert 19 <= h <= 21 and 19 <= w <= 21  # a 20x20 square
    assert img[4:24, 4:24].min() >= 200
    cy, cx = centre_of_mass(img)
    assert abs(cy - 13.5) <= 1 and abs(cx - 13.5) <= 1


@pytest.mark.parametrize(
    "canvas",
    [
        np.zeros((280, 280, 4), np.uint8) + np.array([0, 0, 0, 255], np.uint8),  # black
        np.zeros((280, 280, 4), np.uint8),  # fully transparent
        np.full((280, 280, 4), [255, 255, 255, 0], np.uint8),  # white but transparent
    ],
    ids=["black", "transparent", "transparent-white"],
)
def test_blank_canvas_is_none(canvas):
    assert canvas_to_mnist(canvas) is None
    assert canvas_steps(canvas) is None


@pytest.mark.parametrize(
    "bad",
    [
        render(7).astype(np.float32),
        render(7).astype(np.int64),
        render(7)[..., 0],  # (H, W)
        render(7)[..., :3],  # (H, W, 3)
        render(7).tolist(),
        np.zeros((0, 10, 4), np.uint8),
    ],
    ids=["float", "int64", "HW", "HW3", "list", "empty"],
)
def test_bad_canvas_is_a_value_error(bad):
    with pytest.raises(ValueError):
        canvas_to_mnist(bad)


@pytest.mark.parametrize("digit", DIGITS)
def test_canvas_size_does_not_matter(digit):
    reference = canvas_to_mnist(render(digit, 280, 22))
    for size in (100, 600):
        other = canvas_to_mnist(render(digit, size, round(22 * size / 280)))
        assert_mnist_like(other)
        assert best_corr(reference, other) > 0.9, size


@pytest.mark.parametrize("a, b", [(1, 7), (0, 3), (2, 3), (4, 7)])
def test_different_digits_are_different(a, b):
    """The check above could pass for anything blob-like: make sure it separates digits."""
    assert best_corr(canvas_to_mnist(render(a)), canvas_to_mnist(render(b))) < 0.8


def test_transparent_background_equals_black_background():
    black = render(3)
    transparent = black.copy()
    transparent[..., 3] = black[..., 0]  # ink opaque, background transparent
    transparent[black[..., 0] == 0, :3] = 0
    assert transparent[0, 0, 3] == 0
    np.testing.assert_array_equal(canvas_to_mnist(transparent), canvas_to_mnist(black))


def test_coloured_ink_is_ink():
    canvas = render(4)
    red = canvas.copy()
    red[..., 1:3] = 0  # red ink: darker but the same shape
    a, b = canvas_to_mnist(canvas), canvas_to_mnist(red)
    assert corr(a, b) > 0.95


@pytest.mark.parametrize("digit", DIGITS)
def test_canvas_steps_are_consistent(digit):
    canvas = render(digit)
    steps = canvas_steps(canvas)
    # the ink map is the canvas's brightness
    assert steps.ink.shape == canvas.shape[:2]
    # crop is the ink's bounding box within the ink map
    h, w = ink_box(steps.ink, threshold=round(0.1 * 255))
    assert steps.crop.shape == (h, w)
    # fit20: the longer side is 20 and the aspect ratio is kept
    assert max(steps.fit20.shape) == 20
    assert steps.fit20.shape[0] / steps.fit20.shape[1] == pytest.approx(h / w, rel=0.1, abs=0.06)
    # centred28 is fit20 placed in 28x28: same ink, nothing lost
    assert steps.centred28.shape == (28, 28)
    assert int(steps.centred28.sum()) == int(steps.fit20.sum())
    np.testing.assert_array_equal(steps.centred28, canvas_to_mnist(canvas))
    # padded32 is centred28 with a 2-px zero border
    assert steps.padded32.shape == (32, 32)
    np.testing.assert_array_equal(steps.padded32[2:30, 2:30], steps.centred28)
    border = np.ones((32, 32), bool)
    border[2:30, 2:30] = False
    assert steps.padded32[border].max() == 0
    for a in (steps.ink, steps.crop, steps.fit20, steps.centred28, steps.padded32):
        assert a.dtype == np.uint8


# -------------------------------------------------------------------------------------------
# photos
# -------------------------------------------------------------------------------------------


def paper_photo(digit: int, size: int = 280, seed: int = 0) -> Image.Image:
    """Dark ink on light gray, slightly noisy paper, as a phone photo of a drawing would be."""
    ink = render(digit, size)[..., 0].astype(np.float64) / 255.0
    rng = np.random.default_rng(seed)
    paper = 215.0 + rng.normal(0.0, 6.0, ink.shape) + np.linspace(-10, 10, size)[None, :]
    gray = paper * (1.0 - ink) + 35.0 * ink
    return Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8), mode="L")


def photo_mnist(image: Image.Image) -> np.ndarray:
    steps = photo_steps(image)
    assert steps is not None
    return steps.centred28


def as_16bit(image: Image.Image) -> Image.Image:
    a = np.asarray(image).astype(np.uint16) * 257  # 0..255 -> 0..65535
    out = Image.fromarray(a)
    assert out.mode.startswith("I;16")
    return out


def as_la(image: Image.Image) -> Image.Image:
    return Image.merge("LA", (image, Image.new("L", image.size, 255)))


MODES = {
    "L": lambda im: im,
    "RGB": lambda im: im.convert("RGB"),
    "P": lambda im: im.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=64),
    "I;16": as_16bit,
    "CMYK": lambda im: im.convert("CMYK"),
    "LA": as_la,
    "RGBA": lambda im: im.convert("RGBA"),
}


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("digit", [2, 7])
def test_photo_of_dark_ink_on_paper_matches_the_canvas(digit, mode):
    image = MODES[mode](paper_photo(digit, seed=1))
    assert image.mode == mode
    result = photo_mnist(image)
    reference = canvas_to_mnist(render(digit))
    assert_mnist_like(result)
    assert corr(result, reference) > 0.9


@pytest.mark.parametrize("digit", [0, 2, 7])
def test_photo_noise_does_not_move_the_crop(digit):
    """Single noisy paper pixels above the ink threshold must not stretch the digit's
    bounding box (the digit would come out shrunk and off-centre)."""
    reference = canvas_to_mnist(render(digit))
    for seed in range(8):
        result = photo_mnist(paper_photo(digit, seed=seed))
        assert_mnist_like(result)
        assert corr(result, reference) > 0.9, seed


def test_photo_keeps_a_one_pixel_line():
    paper = np.full((120, 120), 230, np.uint8)
    paper[20:100, 60] = 20  # a 1-px vertical stroke
    ys = np.arange(20, 60)
    paper[ys, ys + 10] = 20  # and a 1-px diagonal
    steps = photo_steps(Image.fromarray(paper))
    h, w = steps.crop.shape
    assert 78 <= h <= 80  # the vertical stroke survives at (almost) full length
    assert 38 <= w <= 40  # and so does the diagonal
    assert (steps.ink[20:100, 60] > 0).sum() >= 78


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_photo_exif_orientation_is_applied(fmt):
    upright = paper_photo(7)
    # A camera stores the pixels sideways and tags 6 ("rotate 90 degrees clockwise to
    # view"); exif_transpose then rotates them back.
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[274] = 6
    buf = io.BytesIO()
    stored.save(buf, format=fmt, exif=exif.tobytes())
    reopened = Image.open(io.BytesIO(buf.getvalue()))
    assert reopened.getexif().get(274) == 6

    reference = canvas_to_mnist(render(7))
    result = photo_mnist(reopened)
    assert corr(result, reference) > 0.9
    # without the tag, the same pixels read as a sideways 7
    sideways = photo_mnist(stored)
    assert corr(sideways, reference) < 0.6


def test_photo_of_blank_paper_is_none():
    rng = np.random.default_rng(0)
    paper = Image.fromarray(np.full((200, 200), 220, np.uint8))
    assert photo_steps(paper) is None
    noisy = Image.fromarray((220 + rng.normal(0, 1, (200, 200))).astype(np.uint8))
    steps = photo_steps(noisy)
    # faint paper grain is not a digit: either nothing, or nothing digit-sized and solid
    assert steps is None or steps.centred28.mean() < 60


def test_photo_of_light_ink_on_dark_background():
    """A white-on-black image (e.g. a canvas export) is read without inverting."""
    canvas = render(4)
    image = Image.fromarray(canvas[..., :3], mode="RGB")
    assert corr(photo_mnist(image), canvas_to_mnist(canvas)) > 0.95


# -------------------------------------------------------------------------------------------
# to_tensor
# -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["classic", "lecun1998"])
def test_to_tensor_shapes_and_values(variant):
    config = LeNetConfig.for_variant(variant)
    background, ink = config.input_range
    image = np.zeros((28, 28), np.uint8)
    image[10:18, 12:16] = 255
    image[0, 0] = 51  # a partly-inked pixel at the edge of the 28x28 field

    unit = to_tensor(image)
    assert float(unit.min()) == 0.0 and float(unit.max()) == 1.0  # [0, 1], 1 = full ink
    x = LeNet5(config).scale_input(unit)  # the network's own input range
    assert x.shape == (1, 1, 32, 32)
    assert x.dtype == torch.float32
    assert float(x[0, 0, 12, 14]) == pytest.approx(ink, abs=1e-5)  # 255 -> ink value
    assert float(x[0, 0, 2, 2]) == pytest.approx(background + 0.2 * (ink - background), abs=1e-5)
    border = torch.ones(32, 32, dtype=torch.bool)
    border[2:30, 2:30] = False
    torch.testing.assert_close(x[0, 0][border], torch.full((int(border.sum()),), background))
    # every background pixel of the image has the background value
    assert float(x[0, 0, 20, 20]) == pytest.approx(background, abs=1e-6)

    batch = LeNet5(config).scale_input(to_tensor(np.stack([image, 255 - image, image])))
    assert batch.shape == (3, 1, 32, 32)
    torch.testing.assert_close(batch[0], x[0])
    torch.testing.assert_close(batch[2], x[0])
    assert float(batch[1, 0, 20, 20]) == pytest.approx(ink, abs=1e-5)
    # a torch uint8 tensor is accepted too
    torch.testing.assert_close(to_tensor(torch.from_numpy(image)), unit)


def test_to_tensor_classic_standardises_with_mnist_statistics():
    model = LeNet5(LeNetConfig.for_variant("classic"))
    x = model.scale_input(to_tensor(np.full((28, 28), 255, np.uint8)))
    assert float(x[0, 0, 16, 16]) == pytest.approx((1 - 0.1307) / 0.3081, abs=1e-4)
    assert float(x[0, 0, 0, 0]) == pytest.approx(-0.1307 / 0.3081, abs=1e-4)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((28, 28), np.float32),
        np.zeros((28, 28), np.int64),
        np.zeros((2, 28, 28), np.float64),
        np.zeros((32, 32), np.uint8),
        np.zeros((2, 1, 28, 28), np.uint8),
    ],
    ids=["float32", "int64", "float64-batch", "32x32", "4d"],
)
def test_to_tensor_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        to_tensor(bad)


# -------------------------------------------------------------------------------------------
# photos without a digit (issue 22, point 4): no real ink, no steps
# -------------------------------------------------------------------------------------------


def jpeg_roundtrip(gray: np.ndarray) -> Image.Image:
    buffer = io.BytesIO()
    Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8), mode="L").save(
        buffer, format="JPEG", quality=90
    )
    return Image.open(io.BytesIO(buffer.getvalue()))


def smooth_noise(shape: tuple[int, int], cell: int, seed: int) -> np.ndarray:
    """Noise of unit amplitude that varies over ``cell`` pixels (paper fibres, blotches)."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(-1, 1, (shape[0] // cell + 2, shape[1] // cell + 2)).astype(np.float32)
    big = Image.fromarray(coarse, mode="F").resize(
        ((shape[1] // cell + 2) * cell, (shape[0] // cell + 2) * cell), Image.Resampling.BICUBIC
    )
    return np.asarray(big)[: shape[0], : shape[1]].astype(np.float64)


def blank_photos() -> dict[str, Image.Image]:
    rng = np.random.default_rng(22)
    h, w = 480, 640
    ys, xs = np.mgrid[0:h, 0:w]
    return {
        "grey-noise-jpeg": jpeg_roundtrip(200 + rng.integers(-2, 3, (h, w))),
        "lighting-gradient": jpeg_roundtrip(150 + 90 * xs / w + rng.normal(0, 1.5, (h, w))),
        "vignette": jpeg_roundtrip(
            225
            - 70 * ((ys - h / 2) ** 2 + (xs - w / 2) ** 2) / (h**2 / 4 + w**2 / 4)
            + rng.normal(0, 2, (h, w))
        ),
        "paper-texture": jpeg_roundtrip(
            205
            + 6 * smooth_noise((h, w), 6, 1)
            + 3 * smooth_noise((h, w), 2, 2)
            + rng.normal(0, 3, (h, w))
        ),
        "sensor-noise": Image.fromarray(
            np.clip(190 + rng.normal(0, 6, (h, w)), 0, 255).astype(np.uint8)
        ),
    }


@pytest.mark.parametrize("name", list(blank_photos()))
def test_a_photo_without_ink_gives_no_steps(name):
    image = blank_photos()[name]
    assert photo_steps(image) is None
    assert photo_steps(image.convert("RGB")) is None


def test_a_flat_16_bit_image_is_not_stretched_into_a_digit():
    from lenet.preprocess import open_upload

    rng = np.random.default_rng(3)
    for level in (200, 30_000, 60_000):
        flat = (level + rng.integers(-4, 5, (240, 320))).astype(np.uint16)
        buffer = io.BytesIO()
        Image.fromarray(flat).save(buffer, format="PNG")
        opened, _ = open_upload(buffer.getvalue())
        assert photo_steps(opened) is None, level
        assert photo_steps(Image.fromarray(flat)) is None, level


def uneven_paper_photo(digit: int, seed: int, reflectance: float) -> Image.Image:
    """A digit on paper lit from one side, with a vignette, grain and JPEG: the light
    varies more across the frame (113..240) than a faint image without ink does. Ink
    reflects ``reflectance`` of the light that the paper reflects."""
    ink = render(digit, 360, width=26)[..., 0].astype(np.float64) / 255.0
    h, w = 480, 640
    ys, xs = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(seed)
    light = 160 + 80 * xs / w - 30 * ((ys - h / 2) ** 2 + (xs - w / 2) ** 2) / (w**2 / 4)
    full = np.zeros((h, w))
    full[60:420, 140:500] = ink
    gray = light * (1 - (1 - reflectance) * full)
    return jpeg_roundtrip(gray + 4 * smooth_noise((h, w), 6, seed) + rng.normal(0, 3, (h, w)))


@pytest.mark.parametrize("digit", [0, 2, 4, 7])
@pytest.mark.parametrize("reflectance", [0.2, 0.6])  # a felt pen; a soft pencil
def test_a_digit_on_uneven_paper_is_still_read(digit, reflectance):
    reference = canvas_to_mnist(render(digit))
    for seed in range(3):
        result = photo_mnist(uneven_paper_photo(digit, seed, reflectance))
        assert_mnist_like(result)
        assert best_corr(result, reference) > 0.85, seed


def test_thick_strokes_are_thinned_to_mnists_width_and_keep_their_holes(monkeypatch):
    """A 0 drawn small with a thick pen: after pen-width normalisation its 28x28 image has
    an open hole and strokes about as wide as MNIST's; without it the hole is filled in.
    A thin drawing is left as it is."""
    import lenet.preprocess
    from lenet.drawn import arc, rasterise
    from lenet.preprocess import FIT_SIZE, STROKE_WIDTH, stroke_width, thin_strokes

    ring = [[(140 + 24 * x, 140 + 40 * y) for x, y in arc(0, 0, 1, 1, 0, 360, 48)]]
    canvas = rasterise(ring, 36)
    thinned = canvas_steps(canvas)
    width20 = stroke_width(thinned.crop > 25) * FIT_SIZE / max(thinned.crop.shape)
    assert width20 < STROKE_WIDTH + 1

    def hole(steps) -> int:  # background pixels inside the ring, rows 11-17
        middle = steps.centred28[11:18]
        inside = [np.flatnonzero(row > 128) for row in middle]
        return sum(
            int((row[r[0] : r[-1]] < 128).sum()) for row, r in zip(middle, inside, strict=True)
        )

    monkeypatch.setattr(lenet.preprocess, "thin_strokes", lambda crop: crop)
    plain = canvas_steps(canvas)
    assert stroke_width(plain.crop > 25) * FIT_SIZE / max(plain.crop.shape) > STROKE_WIDTH + 1
    assert hole(thinned) >= hole(plain) + 5  # a wider hole: the 0 reads more like MNIST's
    thin = (rasterise(ring, 6)[..., 0] / 255).astype(np.float32)
    assert thin_strokes(thin) is thin


@pytest.mark.parametrize("where", ["inside", "left edge", "corner"])
@pytest.mark.parametrize("width", [1, 3, 6])
def test_stroke_width_of_a_bar_is_its_width_wherever_it_lies(width, where):
    """A bar's outline is counted along the mask's own border too: a bar cut by the crop
    (as a drawing's crop always is) measures as wide as one inside the mask."""
    from lenet.preprocess import stroke_width

    length = 60
    mask = np.zeros((length + 8, 20), bool)
    top, left = {"inside": (4, 7), "left edge": (4, 0), "corner": (0, 0)}[where]
    mask[top : top + length, left : left + width] = True
    expected = 2 * width * length / (2 * (width + length))  # twice the area over the perimeter
    assert stroke_width(mask) == pytest.approx(expected)
