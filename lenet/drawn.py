"""A drawn-digit evaluation set (issue 19.3): digits as a person draws them on the canvas,
to measure what MNIST's test set does not, how the networks read pen strokes.

Each digit is a list of strokes (polylines in unit coordinates, 0..1, y down) from one of
several sources: stroke sets written out here as coordinates (two hands), the digits the
tests and browser tests draw (lenet_testkit/digits.py, passed in by the caller), and fonts on the
machine (glyphs rendered as filled outlines). Every sample varies the pen width (thin,
default, thick, as the draw page's slider allows: 6..40 px on a 280 px canvas), the slant,
the size, the position, a small rotation and a little tremor, drawn by a seeded generator:
the dev split (seed 0) is for looking at errors and tuning, the eval split (seed 1) only
for reporting. Nothing here is for training.

Each sample is rasterised like the canvas (white ink on black, RGBA 280x280, round pen)
and read through ``lenet.preprocess.canvas_steps``, exactly as the draw page does.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

CANVAS = 280  # the draw page's canvas, px
PEN_WIDTHS = {"thin": (7, 11), "default": (17, 23), "thick": (30, 40)}  # px ranges
SPLITS = {"dev": 0, "eval": 1}  # split -> seed

Stroke = list[tuple[float, float]]


def arc(cx, cy, rx, ry, start_deg, end_deg, n=24) -> Stroke:
    return [
        (cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
        for a in np.linspace(start_deg, end_deg, n)
    ]


# Two hands of our own, every digit, written as coordinates: "print" draws the school
# shapes (a 1 with a flag and a foot, a closed 4, a 7 with a bar), "quick" the shapes a
# hurried hand makes (a bare 1, an open 4, a 9 with a straight stem, a looped 2).
HANDS: dict[str, dict[int, list[Stroke]]] = {
    "print": {
        0: [arc(0.5, 0.5, 0.2, 0.34, -100, 265, 36)],
        1: [[(0.36, 0.3), (0.52, 0.16), (0.52, 0.84)], [(0.36, 0.84), (0.68, 0.84)]],
        2: [arc(0.5, 0.34, 0.2, 0.17, 190, 390, 20) + [(0.3, 0.84), (0.74, 0.84)]],
        3: [arc(0.5, 0.33, 0.18, 0.16, 200, 450, 20) + arc(0.5, 0.66, 0.2, 0.18, 270, 520, 20)],
        4: [[(0.58, 0.16), (0.28, 0.62), (0.74, 0.62)], [(0.6, 0.36), (0.6, 0.86)]],
        5: [[(0.7, 0.18), (0.36, 0.18), (0.33, 0.47)] + arc(0.48, 0.63, 0.21, 0.2, 235, 500, 20)],
        6: [[(0.64, 0.16), (0.4, 0.42)] + arc(0.5, 0.65, 0.19, 0.19, 200, 560, 30)],
        7: [[(0.28, 0.18), (0.74, 0.18), (0.46, 0.86)], [(0.4, 0.52), (0.66, 0.52)]],
        8: [arc(0.5, 0.32, 0.16, 0.15, 90, 450, 24) + arc(0.5, 0.66, 0.2, 0.19, -90, 270, 28)],
        9: [arc(0.5, 0.33, 0.18, 0.17, 0, 360, 28) + [(0.68, 0.33), (0.62, 0.86)]],
    },
    "quick": {
        0: [arc(0.52, 0.5, 0.24, 0.3, -80, 290, 36)],
        1: [[(0.5, 0.14), (0.46, 0.86)]],
        2: [
            arc(0.48, 0.35, 0.2, 0.2, 200, 360, 14)
            + [(0.6, 0.58), (0.3, 0.84)]
            + arc(0.38, 0.8, 0.07, 0.05, 180, 360, 8)
            + [(0.76, 0.82)]
        ],
        3: [[(0.3, 0.2), (0.7, 0.2), (0.46, 0.46)] + arc(0.5, 0.66, 0.2, 0.19, 270, 510, 20)],
        4: [[(0.3, 0.16), (0.28, 0.56), (0.72, 0.56)], [(0.66, 0.16), (0.66, 0.86)]],
        5: [
            [(0.66, 0.16), (0.36, 0.16)],
            [(0.36, 0.16), (0.34, 0.46)] + arc(0.5, 0.64, 0.2, 0.2, 230, 490, 20),
        ],
        6: [arc(0.5, 0.5, 0.2, 0.34, 290, 180, 20) + arc(0.5, 0.66, 0.2, 0.18, 180, 540, 28)],
        7: [[(0.26, 0.2), (0.72, 0.18), (0.5, 0.86)]],
        8: [
            [(0.68, 0.22)]
            + arc(0.5, 0.3, 0.18, 0.14, 0, 180, 12)
            + [(0.68, 0.68)]
            + arc(0.5, 0.7, 0.18, 0.16, 0, 180, 12)
            + [(0.68, 0.22)]
        ],
        9: [arc(0.48, 0.32, 0.18, 0.16, 10, 370, 28) + [(0.66, 0.3), (0.66, 0.86)]],
    },
}

# The digits the tests and browser tests draw (tests/digits.py, as STROKES): a third hand.
TESTS_HAND: dict[int, list[Stroke]] = {
    0: [arc(0.5, 0.5, 0.22, 0.32, -90, 270, 40)],
    1: [[(0.42, 0.25), (0.52, 0.16), (0.52, 0.84)]],
    2: [arc(0.5, 0.36, 0.2, 0.18, 200, 380, 20) + [(0.28, 0.82), (0.74, 0.82)]],
    3: [arc(0.48, 0.34, 0.19, 0.16, 210, 450, 20) + arc(0.48, 0.66, 0.21, 0.18, 270, 510, 20)],
    4: [[(0.6, 0.16), (0.26, 0.62), (0.76, 0.62)], [(0.6, 0.16), (0.6, 0.86)]],
    7: [[(0.28, 0.2), (0.74, 0.2), (0.44, 0.84)]],
}

FONTS = (  # (name, file): a sans, a serif and a monospace face, as the machine has them
    ("DejaVu Sans", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    ("Liberation Serif", "/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf"),
    ("DejaVu Sans Mono", "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"),
)


@dataclass(frozen=True)
class Sample:
    source: str  # "print", "quick", "tests", or a font's name
    digit: int
    pen: str  # thin | default | thick
    width: int  # pen width in canvas px
    slant: float  # horizontal shear (x moves by -slant * y)
    canvas: np.ndarray  # (280, 280, 4) uint8, white ink on black


def rasterise(strokes: list[Stroke], width: int, size: int = CANVAS) -> np.ndarray:
    """Strokes in canvas pixels (or unit coordinates times ``size`` by the caller) drawn
    with a round pen of ``width`` px, white on black: an RGBA canvas (size, size, 4)."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 255))
    draw = ImageDraw.Draw(image)
    r = width / 2
    for stroke in strokes:
        draw.line(stroke, fill=(255, 255, 255, 255), width=width, joint="curve")
        for x, y in (stroke[0], stroke[-1]):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=(255, 255, 255, 255))
    return np.asarray(image).copy()


def _pose(rng: np.random.Generator) -> dict:
    """A random slant, rotation, size and position for one sample."""
    return {
        "slant": float(rng.uniform(-0.35, 0.35)),
        "angle": float(rng.uniform(-10.0, 10.0)),
        "height": float(rng.uniform(0.3, 0.85)),  # of the canvas
        "stretch": float(rng.uniform(0.75, 1.3)),  # width x this: narrow and wide hands
        "centre": tuple(rng.uniform(0.35, 0.65, 2)),  # kept inside the canvas below
    }


def _place(strokes: list[Stroke], pose: dict, width: int, rng: np.random.Generator) -> list[Stroke]:
    """Unit-coordinate strokes slanted, turned, scaled and moved onto the canvas (the pen
    of ``width`` px stays inside it), with a little tremor."""
    # each stroke a little off where it should join the others, as a hand puts it down
    points = (
        np.concatenate(
            [np.asarray(s, dtype=np.float64) + rng.normal(0.0, 0.012, 2) for s in strokes]
        )
        - 0.5
    )
    points[:, 0] *= pose["stretch"]
    a = math.radians(pose["angle"])
    shear = np.array([[1.0, -pose["slant"]], [0.0, 1.0]])
    turn = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    points = points @ (turn @ shear).T
    points += rng.normal(0.0, 0.004, points.shape)
    low, high = points.min(axis=0), points.max(axis=0)
    scale = pose["height"] * CANVAS / max(high[1] - low[1], 1e-6)
    scale = min(scale, 0.9 * CANVAS / max(high[0] - low[0], 1e-6))
    points = (points - (low + high) / 2) * scale
    half = (high - low) / 2 * scale
    margin = half + width / 2 + 2
    centre = np.clip(np.asarray(pose["centre"]) * CANVAS, margin, CANVAS - margin)
    points += centre
    out, start = [], 0
    for s in strokes:
        out.append([tuple(p) for p in points[start : start + len(s)]])
        start += len(s)
    return out


def _font_glyph(path: str, digit: int, width: int, pose: dict) -> np.ndarray:
    """A font's digit as a filled outline, thickened by ``width`` (the pen's), then slanted,
    turned, scaled and moved like the strokes."""
    big, size = 4 * CANVAS, int(4 * CANVAS * 0.6)
    font = ImageFont.truetype(path, size=size)
    glyph = Image.new("L", (big, big), 0)
    # Thickened so that its strokes are about the pen's width once the glyph is scaled to
    # the sample's height (a digit is ~0.73 of the font size tall; a regular face's stem
    # ~0.09 of it): the thin pen draws the face as it is.
    pen = width * 0.73 * size / (pose["height"] * CANVAS)
    stroke = max(0, round((pen - 0.09 * size) / 2))
    ImageDraw.Draw(glyph).text(
        (big / 2, big / 2),
        str(digit),
        fill=255,
        font=font,
        anchor="mm",
        stroke_width=stroke,
        stroke_fill=255,
    )
    glyph = glyph.transform(
        glyph.size,
        Image.Transform.AFFINE,
        (1, pose["slant"], -pose["slant"] * big / 2, 0, 1, 0),
        Image.Resampling.BILINEAR,
    )
    glyph = glyph.resize((round(big * pose["stretch"]), big), Image.Resampling.BILINEAR)
    glyph = glyph.rotate(pose["angle"], Image.Resampling.BILINEAR, expand=True)
    glyph = glyph.crop(glyph.getbbox())
    h = pose["height"] * CANVAS
    w = min(glyph.width * h / glyph.height, 0.9 * CANVAS)
    glyph = glyph.resize(
        (max(1, round(w)), max(1, round(glyph.height * w / glyph.width))), Image.Resampling.LANCZOS
    )
    cx, cy = pose["centre"]
    left = int(np.clip(cx * CANVAS - glyph.width / 2, 2, CANVAS - glyph.width - 2))
    top = int(np.clip(cy * CANVAS - glyph.height / 2, 2, CANVAS - glyph.height - 2))
    ink = Image.new("L", (CANVAS, CANVAS), 0)
    ink.paste(glyph, (left, top))
    rgba = np.zeros((CANVAS, CANVAS, 4), np.uint8)
    rgba[..., 0] = rgba[..., 1] = rgba[..., 2] = np.asarray(ink)
    rgba[..., 3] = 255
    return rgba


def available_fonts() -> list[tuple[str, str]]:
    return [(name, path) for name, path in FONTS if Path(path).is_file()]


def samples(
    split: str,
    per_glyph: int = 2,
    extra_hands: dict[str, dict[int, list[Stroke]]] | None = None,
) -> Iterator[Sample]:
    """The drawn digits of ``split`` (dev | eval): every source's every digit at every pen
    width, ``per_glyph`` random poses each. ``extra_hands`` adds stroke sets (the tests'
    digits). The same split always gives the same samples."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    rng = np.random.default_rng(SPLITS[split])
    hands = {**HANDS, **(extra_hands or {})}
    fonts = available_fonts()
    for pen, (low, high) in PEN_WIDTHS.items():
        for _ in range(per_glyph):
            for source, strokes_of in hands.items():
                for digit, strokes in sorted(strokes_of.items()):
                    pose, width = _pose(rng), int(rng.integers(low, high + 1))
                    canvas = rasterise(_place(strokes, pose, width, rng), width)
                    yield Sample(source, digit, pen, width, pose["slant"], canvas)
            for name, path in fonts:
                for digit in range(10):
                    pose, width = _pose(rng), int(rng.integers(low, high + 1))
                    canvas = _font_glyph(path, digit, width, pose)
                    yield Sample(name, digit, pen, width, pose["slant"], canvas)


PER_GLYPH = 4  # random poses per glyph and pen in the reported set (bench.drawn, the cards)


def evaluation_set(split: str, per_glyph: int = PER_GLYPH) -> tuple[list[dict], np.ndarray]:
    """The split's samples as facts (source, digit, pen, width, slant; no canvas) and their
    28x28 digits, read through ``lenet.preprocess.canvas_steps`` as the draw page does;
    the three hands (``HANDS`` and the tests' ``TESTS_HAND``) and the fonts."""
    from lenet.preprocess import canvas_steps

    meta, images = [], []
    for s in samples(split, per_glyph=per_glyph, extra_hands={"tests": TESTS_HAND}):
        steps = canvas_steps(s.canvas)
        if steps is None:  # cannot happen for a drawn digit
            raise ValueError(f"a blank drawn sample: {s.source} {s.digit}")
        meta.append(
            {"source": s.source, "digit": s.digit, "pen": s.pen, "width": s.width,
             "slant": round(s.slant, 2)}
        )  # fmt: skip
        images.append(steps.centred28)
    return meta, np.stack(images)


def accuracy_by(meta: list[dict], correct: np.ndarray, field: str) -> dict[str, float]:
    """The share read right per value of ``field`` (pen, source, digit), in [0, 1]."""
    groups: dict[str, list[bool]] = {}
    for m, ok in zip(meta, correct, strict=True):
        groups.setdefault(str(m[field]), []).append(bool(ok))
    return {k: float(np.mean(v)) for k, v in groups.items()}


def score(model, meta: list[dict], images: np.ndarray) -> dict:
    """How ``model`` reads the set: accuracy in [0, 1], per pen, source and digit, and the
    errors (each sample's facts, its index in the set and the digit read)."""
    import torch

    from lenet.preprocess import to_tensor

    with torch.inference_mode():
        predicted = model(to_tensor(images)).argmax(1).numpy()
    correct = predicted == np.array([m["digit"] for m in meta])
    return {
        "accuracy": float(correct.mean()),
        "by_pen": accuracy_by(meta, correct, "pen"),
        "by_source": accuracy_by(meta, correct, "source"),
        "by_digit": accuracy_by(meta, correct, "digit"),
        "errors": [
            {**m, "index": i, "predicted": int(p)}
            for i, (m, p, ok) in enumerate(zip(meta, predicted, correct, strict=True))
            if not ok
        ],
    }


CARD_ERROR_IMAGES = 24  # errors whose 28x28 digit the card keeps (the model card's gallery)


def card_entry(model, split: str = "eval", per_glyph: int = PER_GLYPH) -> dict:
    """What a model card records of the drawn digits: the split, its size, the accuracy
    overall and per pen width, and the errors (the first CARD_ERROR_IMAGES with their
    28x28 digit as the network saw it, base64 of its 784 bytes)."""
    meta, images = evaluation_set(split, per_glyph)
    result = score(model, meta, images)
    errors = [
        {**e, "image": base64.b64encode(images[e["index"]].tobytes()).decode("ascii")}
        if k < CARD_ERROR_IMAGES
        else e
        for k, e in enumerate(result["errors"])
    ]
    return {"split": split, "per_glyph": per_glyph, "samples": len(meta)} | {
        "accuracy": result["accuracy"],
        "by_pen": result["by_pen"],
        "errors": errors,
    }
