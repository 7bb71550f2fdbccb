"""The paper's output prototypes: each of LeNet-5's ten RBF output units compares F6's 84
values with a stylised 7x12 picture of its digit, +1 for ink and -1 for background
(LeCun, Bottou, Bengio and Haffner 1998, section II.B and Fig. 3, "Initial parameters of
the output RBFs for recognizing the full ASCII set").

The ten pictures below are drawn after that figure's digits, as transcribed by a public
re-implementation (mattwang44/LeNet-from-Scratch, utils/RBF_initial_weight.py): the same
two-pixel strokes, the digit in the top ten rows and the last two rows blank (the 4 keeps
its stem below the line). That transcription puts an extra bar in the top row of the 0,
2, 4 and 5 with an empty row under it; a bar on top of a 4 is no part of the digit, so we
leave it out. ``#`` is ink (+1), ``.`` background (-1).
"""

from __future__ import annotations

import numpy as np

ROWS, COLS = 12, 7  # F6's 84 units read as a 7-wide, 12-tall picture, row by row

_PICTURES = (
    """
    ..###..
    .##.##.
    ##...##
    ##...##
    ##...##
    ##...##
    ##...##
    ##...##
    .##.##.
    ..###..
    .......
    .......
    """,
    """
    ...##..
    ..###..
    .####..
    ...##..
    ...##..
    ...##..
    ...##..
    ...##..
    ...##..
    .######
    .......
    .......
    """,
    """
    .#####.
    ##...##
    .....##
    ....##.
    ...##..
    ..##...
    .##....
    ##.....
    ##.....
    #######
    .......
    .......
    """,
    """
    #######
    .....##
    ....##.
    ...##..
    ..####.
    .....##
    .....##
    .....##
    ##...##
    .#####.
    .......
    .......
    """,
    """
    .......
    .......
    .......
    .##..##
    .##..##
    ###..##
    ##...##
    ##...##
    ##..###
    .######
    .....##
    .....##
    """,
    """
    .......
    .......
    #######
    ##.....
    ##.....
    .####..
    ..####.
    .....##
    ##...##
    .#####.
    .......
    .......
    """,
    """
    ..####.
    .##....
    ##.....
    ##.....
    ######.
    ###..##
    ##...##
    ##...##
    ###..##
    .#####.
    .......
    .......
    """,
    """
    #######
    .....##
    .....##
    ....##.
    ...##..
    ...##..
    ..##...
    ..##...
    ..##...
    ..##...
    .......
    .......
    """,
    """
    .#####.
    ##...##
    ##...##
    ##...##
    .#####.
    ##...##
    ##...##
    ##...##
    ##...##
    .#####.
    .......
    .......
    """,
    """
    .#####.
    ##..###
    ##...##
    ##...##
    ##..###
    .######
    .....##
    .....##
    ....##.
    .####..
    .......
    .......
    """,
)


def _parse(picture: str) -> np.ndarray:
    rows = [line.strip() for line in picture.strip().splitlines()]
    if len(rows) != ROWS or any(len(row) != COLS or set(row) - {"#", "."} for row in rows):
        raise ValueError(f"a prototype must be {ROWS} rows of {COLS} '#' or '.'")
    return np.array([[1.0 if c == "#" else -1.0 for c in row] for row in rows], np.float32)


def paper_bitmaps() -> np.ndarray:
    """The ten digits' pictures, (10, 12, 7), +1 ink and -1 background."""
    return np.stack([_parse(p) for p in _PICTURES])


def paper_prototypes() -> np.ndarray:
    """The same pictures as the RBF units' weight vectors, (10, 84), row by row."""
    return paper_bitmaps().reshape(10, ROWS * COLS)


def bitmap_drawing(digit: int, cell: int = 20) -> np.ndarray:
    """A prototype as a drawing: each +1 cell a white ``cell`` x ``cell`` square on black,
    uint8 (12 * cell, 7 * cell), ready for lenet.preprocess.ink_to_steps."""
    ink = paper_bitmaps()[digit] > 0
    return np.kron(ink, np.ones((cell, cell), dtype=bool)).astype(np.uint8) * 255
