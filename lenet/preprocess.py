"""From a drawing, photo or MNIST image to the tensor LeNet-5 reads.

MNIST's own recipe (LeCun et al.): the digit is cropped to its ink, scaled so its longer
side is 20 px (anti-aliased, aspect ratio kept), placed in a 28x28 field and shifted so
its centre of mass sits at the centre. LeNet-5 then sees it padded to 32x32.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image, ImageChops, ImageOps

FIT_SIZE = 20  # the longer side of the digit inside the 28x28 field
MNIST_SIZE = 28
INPUT_SIZE = 32
PAD = (INPUT_SIZE - MNIST_SIZE) // 2
INK_THRESHOLD = 0.1  # a pixel counts as ink above this fraction of the brightest ink


def to_u8(a: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> uint8 0..255, rounded."""
    return np.round(np.clip(a, 0.0, 1.0) * 255).astype(np.uint8)


@dataclass(frozen=True)
class Steps:
    """Each intermediate image of the preprocessing, as uint8 arrays (ink = 255)."""

    crop: np.ndarray  # cropped to the ink's bounding box
    fit20: np.ndarray  # longer side scaled to 20 px
    centred28: np.ndarray  # placed in 28x28, centre of mass at the centre (the MNIST image)
    padded32: np.ndarray  # padded to 32x32: what the network sees
    source: np.ndarray = field(repr=False)  # the input's ink map, before normalisation
    peak: float = 255.0  # the source's brightest ink: it becomes 255 in ``ink``

    @property
    def ink(self) -> np.ndarray:
        """The whole input as a uint8 ink map, before cropping. Built on demand: nothing
        on the prediction path needs the full-size image."""
        if self.source.dtype == np.uint8 and self.peak == 255:
            return self.source
        return to_u8(self.source.astype(np.float32) / np.float32(self.peak))


def rgba_to_ink(rgba: np.ndarray) -> np.ndarray:
    """Ink intensity of a canvas drawing, uint8 0..255: white ink on black or transparent
    (luminance x alpha)."""
    if not isinstance(rgba, np.ndarray) or rgba.dtype != np.uint8:
        kind = rgba.dtype if isinstance(rgba, np.ndarray) else type(rgba).__name__
        raise ValueError(f"expected a uint8 numpy array of shape (H, W, 4), got {kind}")
    if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.shape[0] < 1 or rgba.shape[1] < 1:
        raise ValueError(f"expected an RGBA image of shape (H, W, 4), got shape {rgba.shape}")
    # Pillow's luminance (ITU-R 601-2, as MNIST's grey levels) times alpha, in C on uint8:
    # a few times faster than the same arithmetic in numpy floats.
    image = Image.fromarray(np.ascontiguousarray(rgba), "RGBA")
    return np.asarray(ImageChops.multiply(image.convert("L"), image.getchannel("A")))


def _centre_of_mass_shift(img: np.ndarray) -> np.ndarray:
    total = img.sum()
    cy = img.sum(axis=1) @ np.arange(img.shape[0], dtype=img.dtype) / total
    cx = img.sum(axis=0) @ np.arange(img.shape[1], dtype=img.dtype) / total
    dy = int(round((img.shape[0] - 1) / 2 - cy))
    dx = int(round((img.shape[1] - 1) / 2 - cx))
    return shift(img, dy, dx)


def pad32(image28: np.ndarray) -> np.ndarray:
    """A 28x28 image with a zero border of PAD pixels (np.pad is ~10x slower at this size)."""
    out = np.zeros((image28.shape[0] + 2 * PAD, image28.shape[1] + 2 * PAD), image28.dtype)
    out[PAD:-PAD, PAD:-PAD] = image28
    return out


def shift(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """An array (2-D, or a stack of them: the last two axes) shifted by dy rows (down if
    positive) and dx columns (right if positive), whole pixels, filling with zeros; a shift by
    the whole size or more leaves only zeros."""
    if np.ndim(img) < 2:
        raise ValueError(
            f"can only shift a 2-D array or a stack of them, got shape {np.shape(img)}"
        )
    if not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) for n in (dy, dx)):
        raise ValueError(f"shifts must be whole pixels (integers), got dy={dy!r}, dx={dx!r}")
    h, w = img.shape[-2:]
    out = np.zeros_like(img)
    if abs(dy) < h and abs(dx) < w:
        out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = img[
            ..., max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
        ]
    return out


STROKE_WIDTH = 2.5  # px, in the 20 px frame: strokes thicker than this are thinned


def stroke_width(mask: np.ndarray) -> float:
    """The mean width of the strokes of a binary ink mask, in its pixels: twice the area
    over the perimeter (a long stroke of width w and length l has area wl and perimeter
    about 2l)."""
    edges = np.count_nonzero(mask[1:] != mask[:-1]) + np.count_nonzero(mask[:, 1:] != mask[:, :-1])
    # the outline along the mask's own border (as if padded with background, without a copy)
    edges += sum(np.count_nonzero(side) for side in (mask[0], mask[-1], mask[:, 0], mask[:, -1]))
    return 2.0 * np.count_nonzero(mask) / max(edges, 1)


def _erode(image: np.ndarray, r: int) -> np.ndarray:
    """Grey-level erosion by a (2r+1) square, as two 1-D minimum filters (outside is 0)."""
    from numpy.lib.stride_tricks import sliding_window_view

    k = 2 * r + 1
    padded = np.pad(image, r)
    rows = sliding_window_view(padded, k, axis=0).min(axis=-1)
    return sliding_window_view(rows, k, axis=1).min(axis=-1)


def thin_strokes(crop: np.ndarray) -> np.ndarray:
    """Pen-width normalisation: a digit (cropped to its ink, floats 0..1) whose strokes are
    thicker than MNIST's (STROKE_WIDTH px once its longer side is 20 px) is eroded to
    about that width, at its own resolution, before it is scaled down; otherwise a thick
    pen on a small digit fills the holes of 0, 6, 8 and 9 in the 28x28 image (the
    drawn-digit set's dev split, bench.drawn). Never by more than a third of the width,
    so thinner parts of a stroke stay; the crop is trimmed to the remaining ink."""
    mask = crop > INK_THRESHOLD
    width = stroke_width(mask)
    target = STROKE_WIDTH * max(crop.shape) / FIT_SIZE
    r = int(min((width - target) / 2, width / 3))
    if r < 1:
        return crop
    thinned = _erode(crop, r)
    ink = thinned > INK_THRESHOLD
    if not ink.any():
        return crop
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    return thinned[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def ink_to_steps(ink: np.ndarray) -> Steps | None:
    """MNIST's normalisation of an ink map (uint8 0..255 or float 0..1, 0 = background);
    None when blank. Only the ink's bounding box is converted to floats."""
    full = 255.0 if ink.dtype == np.uint8 else 1.0
    peak = float(ink.max()) if ink.size else 0.0
    if not np.isfinite(peak) or peak <= 0.02 * full:
        return None
    level = INK_THRESHOLD * peak  # the ink's rows and columns, without a full-size mask
    rows = np.flatnonzero(ink.max(axis=1) > level)
    cols = np.flatnonzero(ink.max(axis=0) > level)
    box = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    crop = thin_strokes(np.clip(box.astype(np.float32) * np.float32(1.0 / peak), 0.0, 1.0))

    h, w = crop.shape
    scale = FIT_SIZE / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))  # PIL wants (width, height)
    # reducing_gap: a box reduction first, then Lanczos over the last factor of 2 (same
    # anti-aliasing, a fraction of the work for a large drawing).
    fit = np.asarray(
        Image.fromarray(crop, mode="F").resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)
    )
    fit = np.clip(fit, 0.0, 1.0)

    field28 = np.zeros((MNIST_SIZE, MNIST_SIZE), dtype=np.float32)
    top, left = (MNIST_SIZE - fit.shape[0]) // 2, (MNIST_SIZE - fit.shape[1]) // 2
    field28[top : top + fit.shape[0], left : left + fit.shape[1]] = fit
    centred_u8 = to_u8(_centre_of_mass_shift(field28))
    return Steps(
        crop=to_u8(crop),
        fit20=to_u8(fit),
        centred28=centred_u8,
        padded32=pad32(centred_u8),
        source=ink,
        peak=peak,
    )


def canvas_steps(rgba: np.ndarray) -> Steps | None:
    """All preprocessing steps of a canvas drawing; None for a blank canvas."""
    return ink_to_steps(rgba_to_ink(rgba))


def canvas_to_mnist(rgba: np.ndarray) -> np.ndarray | None:
    """A canvas drawing (H, W, 4) uint8 -> a 28x28 uint8 MNIST-style image, or None if blank."""
    steps = canvas_steps(rgba)
    return None if steps is None else steps.centred28


# An upload has a digit only where its ink stands out from the paper by a meaningful
# contrast: Otsu's ink class at least MIN_INK_CONTRAST darker than its paper class (as a
# fraction of the paper's own brightness, which uneven lighting scales; on a dark ground,
# lighter by that fraction of the full range), and at least MIN_INK_PIXELS ink pixels once lone specks are removed.
# Faint noise, paper texture and lighting stay well below that; a soft pencil is far above.
MIN_INK_CONTRAST = 0.15
MIN_INK_PIXELS = 20
PAPER_CELLS = 32  # the paper's brightness is estimated on a grid this many cells across,
PAPER_WINDOW = 7  # and strokes up to this many cells wide (a fifth of the image) are ink


def _otsu(values: np.ndarray, top: float) -> tuple[float, float]:
    """Otsu's threshold of ``values`` in [0, top] and the difference between the means of
    the two classes it separates (0 when everything falls in one class)."""
    hist, edges = np.histogram(values, bins=64, range=(0.0, top))
    centres = (edges[:-1] + edges[1:]) / 2
    weight0 = np.cumsum(hist)
    weight1 = weight0[-1] - weight0
    mean0 = np.cumsum(hist * centres) / np.maximum(weight0, 1)
    mean1 = ((hist * centres).sum() - np.cumsum(hist * centres)) / np.maximum(weight1, 1)
    between = weight0 * weight1 * (mean0 - mean1) ** 2
    best = int(np.argmax(between))
    separation = float(mean1[best] - mean0[best]) if weight1[best] > 0 else 0.0
    return float(centres[best]), separation


def _window(grid: np.ndarray, reduce, size: int) -> np.ndarray:
    """``reduce`` (np.min or np.max) over each size x size window of a padded grid: the
    result is smaller by size - 1 on each axis."""
    h, w = grid.shape[0] - size + 1, grid.shape[1] - size + 1
    return reduce(
        [grid[dy : dy + h, dx : dx + w] for dy in range(size) for dx in range(size)], axis=0
    )


def _paper_level(v: np.ndarray) -> np.ndarray:
    """The paper under an ink-positive image ``v`` (ink high), following uneven lighting:
    the median of each cell of a coarse grid (the paper wherever ink covers less than half
    a cell), then a morphological opening over PAPER_WINDOW cells, which removes anything
    narrower than the window (strokes) and keeps lighting gradients exactly (the grid is
    extended by odd reflection, which continues a gradient past the edge); interpolated
    back to full size."""
    step = max(1, max(v.shape) // 256)  # a subsample is plenty for the paper
    small = v[::step, ::step]
    cell = -(-max(small.shape) // PAPER_CELLS)
    rows, cols = -(-small.shape[0] // cell), -(-small.shape[1] // cell)
    grid = np.pad(
        small, ((0, rows * cell - small.shape[0]), (0, cols * cell - small.shape[1])), mode="edge"
    )
    blocks = grid.reshape(rows, cell, cols, cell).transpose(0, 2, 1, 3).reshape(rows, cols, -1)
    medians = np.median(blocks, axis=2)
    r = PAPER_WINDOW // 2
    extended = np.pad(medians, 2 * r, mode="reflect", reflect_type="odd")
    opened = _window(_window(extended, np.min, PAPER_WINDOW), np.max, PAPER_WINDOW)
    paper = Image.fromarray(opened.astype(np.float32), mode="F")
    return np.asarray(paper.resize(v.shape[::-1], Image.Resampling.BILINEAR))


def _wide_to_gray(a: np.ndarray) -> np.ndarray:
    """16- or 32-bit grey values -> 0..255 floats, scaled so that the brightest value is
    white (12-bit data in a 16-bit file reads as it looks), but never stretched up from
    its own darkest value: a flat image stays flat, its noise does not become ink."""
    a = np.nan_to_num(a.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = min(float(a.min()), 0.0), float(a.max())
    return (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)


def _photo_gray(image: Image.Image) -> np.ndarray:
    """A photo or scan (any PIL mode, EXIF orientation applied) -> grey levels in [0, 1]."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        # Transparent regions become paper; a canvas export (white ink on transparent) is
        # recognised because its ink is then lighter than the paper.
        gray_on_white = np.asarray(Image.alpha_composite(background, rgba).convert("L"))
        gray_on_black = np.asarray(rgba.convert("RGB").convert("L")) * (
            np.asarray(rgba.getchannel("A")) / 255.0
        )
        gray = gray_on_white if gray_on_white.mean() < 250 else gray_on_black
    elif image.mode.startswith("I;16") or image.mode in ("I", "F"):
        # convert("L") would clip every value above 255 to white
        gray = _wide_to_gray(np.asarray(image))
    else:
        gray = np.asarray(image.convert("L"))
    return gray.astype(np.float32) / 255.0


def photo_to_ink(image: Image.Image) -> np.ndarray:
    """A photo or scan (any PIL mode) -> ink map in [0, 1] (all zero without a digit):
    dark ink on light paper inverted, the paper's own brightness (uneven lighting
    included) subtracted, what is below Otsu's threshold removed; the ink is kept only
    when its contrast with the paper is meaningful (MIN_INK_CONTRAST, MIN_INK_PIXELS)."""
    gray = _photo_gray(image)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if np.median(border) > 0.5:  # dark ink on light paper: how much darker than the paper
        paper = 1.0 - _paper_level(1.0 - gray)
        ink = np.clip(1.0 - gray / np.maximum(paper, 1 / 255), 0.0, 1.0)
    else:  # light ink on a dark ground (a canvas export): how much lighter
        ink = np.clip(gray - _paper_level(gray), 0.0, None)
    top = float(ink.max())
    if top <= 0:
        return ink
    threshold, separation = _otsu(ink.ravel(), top)
    if separation < MIN_INK_CONTRAST:
        return np.zeros_like(ink)
    ink[ink < threshold] = 0.0
    # Single pixels of sensor noise or paper grain above the threshold would otherwise
    # stretch the ink's bounding box: keep a pixel only with 2+ ink pixels around it
    # (a 1-px line keeps its two neighbours along the line).
    mask = np.pad(ink > 0, 1)
    h, w = ink.shape
    around = sum(mask[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3))
    ink[around < 3] = 0.0
    if np.count_nonzero(ink) < MIN_INK_PIXELS:
        return np.zeros_like(ink)
    return ink / ink.max()


def photo_steps(image: Image.Image) -> Steps | None:
    """All preprocessing steps of an uploaded image; None if no ink is found."""
    return ink_to_steps(photo_to_ink(image))


def pad_unit(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (28, 28) or (N, 28, 28) -> float32 (N, 1, 32, 32) in [0, 1], zero-padded."""
    x = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
    if x.dtype != torch.uint8:
        raise ValueError(f"expected uint8 images, got {x.dtype}")
    if x.ndim == 2:
        x = x.unsqueeze(0)
    if x.ndim != 3 or tuple(x.shape[1:]) != (MNIST_SIZE, MNIST_SIZE):
        raise ValueError(f"expected images of shape (28, 28) or (N, 28, 28), got {tuple(x.shape)}")
    x = x.to(torch.float32).div_(255.0).unsqueeze(1)
    return torch.nn.functional.pad(x, (PAD, PAD, PAD, PAD))


def to_tensor(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (28, 28) or (N, 28, 28) -> the float32 (N, 1, 32, 32) tensor every LeNet5
    reads: pixels in [0, 1] (0 = background, 1 = full ink), zero-padded to 32x32. Each
    model maps it onto its own input range itself (``LeNet5.scale_input``)."""
    return pad_unit(images)


def mnist_steps(image28: np.ndarray) -> Steps:
    """The steps of an image that is already an MNIST digit: it is shown, not redone."""
    if image28.shape != (MNIST_SIZE, MNIST_SIZE) or image28.dtype != np.uint8:
        raise ValueError(f"expected a 28x28 uint8 image, got {image28.shape} {image28.dtype}")
    rows = np.flatnonzero(image28.any(axis=1))
    cols = np.flatnonzero(image28.any(axis=0))
    crop = image28[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] if rows.size else image28
    return Steps(crop=crop, fit20=crop, centred28=image28, padded32=pad32(image28), source=image28)


# Uploads: Pillow's pixel limit is set deliberately (a decompression bomb is a tiny file
# that claims an enormous image); anything above it is refused before decoding.
MAX_UPLOAD_PIXELS = 12_000_000
Image.MAX_IMAGE_PIXELS = MAX_UPLOAD_PIXELS


class UploadError(ValueError):
    """An upload that cannot be used. ``reason`` is a short code the app translates."""

    def __init__(self, reason: str, **fields: object):
        super().__init__(f"{reason}: {fields}" if fields else reason)
        self.reason, self.fields = reason, fields


UPLOAD_EXTENSIONS = ("png", "jpg", "jpeg")  # the files an uploader offers: open_upload's formats


def open_upload(data: bytes, max_bytes: int = 5 * 1024 * 1024) -> tuple[Image.Image, list[str]]:
    """Decode an uploaded PNG/JPEG safely. Returns the image and notes (e.g. "animated":
    only the first frame is used); raises UploadError with a reason code otherwise."""
    import io
    import warnings

    if len(data) > max_bytes:
        raise UploadError(
            "too_large", size_mb=round(len(data) / 2**20, 1), max_mb=max_bytes // 2**20
        )
    if not data:
        raise UploadError("not_image")
    notes = []
    try:
        with warnings.catch_warnings():
            # Pillow warns (then refuses, above twice the limit) when it reads the header;
            # our own check below says how many pixels there are.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
        if image.format not in ("PNG", "JPEG", "MPO"):
            raise UploadError("not_image")
        w, h = image.size
        if w * h > MAX_UPLOAD_PIXELS:
            raise UploadError("too_many_pixels", pixels=w * h, max_pixels=MAX_UPLOAD_PIXELS)
        if getattr(image, "n_frames", 1) > 1:
            notes.append("animated")
            image.seek(0)
        image.load()
    except UploadError:
        raise
    except Image.DecompressionBombError:
        pixels = _header_pixels(data)
        raise UploadError("too_many_pixels", pixels=pixels, max_pixels=MAX_UPLOAD_PIXELS) from None
    except (OSError, SyntaxError, ValueError) as e:  # Pillow's errors for broken files
        reason = "truncated" if "truncated" in str(e).lower() else "not_image"
        raise UploadError(reason) from None
    if image.mode not in ("L", "RGB", "RGBA", "LA", "P", "PA"):
        notes.append("converted")
        image = _to_8bit(image)
    return image, notes


def _header_pixels(data: bytes) -> int:
    """The pixel count an upload's header claims, read without Pillow's size check (which
    refuses to open an image above twice its limit, and so to tell its size)."""
    import io

    from PIL import JpegImagePlugin, PngImagePlugin

    for plugin in (PngImagePlugin.PngImageFile, JpegImagePlugin.JpegImageFile):  # MPO too
        try:
            w, h = plugin(io.BytesIO(data)).size
            return w * h
        except (OSError, SyntaxError, ValueError):
            continue
    raise UploadError("not_image")


def _to_8bit(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit, CMYK, YCbCr... -> 8-bit L or RGB."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        gray = np.round(_wide_to_gray(np.asarray(image)))
        return Image.fromarray(gray.astype(np.uint8), mode="L")
    return image.convert("RGB")
