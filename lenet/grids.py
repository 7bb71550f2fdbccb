"""Grids of numbers that a student types into a lab page, read back into arrays.

One parser for every lab, so every lab has the same input rules and the same messages: an
empty cell, text that is not a number, NaN or infinity, or a number beyond ``max_abs`` is
refused with a GridError naming the cell, its row and column counted from 1 as a student
counts them. Numbers may be written as 2, -0.5, 1e-3 or 2.5E2 (also with full-width digits or
a typographic minus sign); nothing else is turned into a number.

The page shows the grid as text cells (``editor_table``): a numeric column's editor in the
browser drops the letters of 1e-3 and hands over another number without a word.
"""

from __future__ import annotations

import numbers
import re
import unicodedata

import numpy as np

MAX_ABS = 1e6  # larger numbers are refused: they only make the heatmaps and sums unreadable
MAX_SIZE = 10  # at most this many rows and columns
GRID_REASONS = ("empty_grid", "not_a_grid", "grid_too_big")  # the whole grid
CELL_REASONS = ("empty_cell", "not_a_number", "not_finite", "too_large")  # one cell
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_NOT_FINITE = re.compile(r"[+-]?(nan|inf|infinity)", re.IGNORECASE)


class GridError(ValueError):
    """A grid that cannot be used. ``reason`` is one of GRID_REASONS or CELL_REASONS; ``fields`` fill the message
    ``grid.error_<reason>`` (name, and row, col, value, limit... as the reason needs);
    ``row`` and ``column`` (from 1) say which cell, or are None for the whole grid."""

    def __init__(
        self, reason: str, name: str, row: int | None = None, column: int | None = None, **fields
    ) -> None:
        from lenet.i18n import translate

        self.reason, self.row, self.column = reason, row, column
        self.fields = {"name": name, **fields}
        if row is not None:
            self.fields |= {"row": row, "col": column}
        super().__init__(translate(f"grid.error_{reason}", "en", **self.fields))


def _is_missing(cell) -> bool:
    """None, NaN, pandas.NA or NaT: what a cleared cell reads as."""
    if cell is None:
        return True
    try:
        return bool(cell != cell)
    except TypeError:  # pandas.NA cannot even be compared
        return True


def _text_to_number(text: str) -> float | str:
    """The number written in ``text``, or the reason it is not one."""
    text = unicodedata.normalize("NFKC", text).strip().replace("\u2212", "-")
    if _NUMBER.fullmatch(text):
        return float(text)
    return "not_finite" if _NOT_FINITE.fullmatch(text) else "not_a_number"


def cell_value(cell, name: str, row: int, column: int, max_abs: float = MAX_ABS) -> float:
    """One cell as a float (row and column from 1), or a GridError saying what is wrong."""
    where = {"name": name, "row": row, "column": column}
    if isinstance(cell, bool | np.bool_):
        raise GridError("not_a_number", value=str(cell), **where)
    if isinstance(cell, str):
        if not cell.strip():
            raise GridError("empty_cell", **where)
        number = _text_to_number(cell)
        if isinstance(number, str):
            raise GridError(number, value=cell.strip()[:20], **where)
    elif isinstance(cell, numbers.Real) and not _is_missing(cell):
        number = float(cell)
    elif _is_missing(cell):
        raise GridError("empty_cell", **where)
    else:
        raise GridError("not_a_number", value=str(cell)[:20], **where)
    text = cell.strip()[:20] if isinstance(cell, str) else f"{number:g}"
    if not np.isfinite(number):
        raise GridError("not_finite", value=text, **where)
    if abs(number) > max_abs:
        limit = int(max_abs) if float(max_abs).is_integer() else max_abs
        raise GridError("too_large", value=text, limit=limit, **where)
    return number


def parse_grid(
    table, name: str = "grid", *, max_abs: float = MAX_ABS, max_size: int = MAX_SIZE
) -> np.ndarray:
    """The numbers of an edited grid (st.data_editor's DataFrame, an array or nested lists)
    as a 2-D float64 array; GridError for anything else (see the module docstring). ``name``
    is the grid's name in the page's language, for the message."""
    raw = table.to_numpy(dtype=object) if hasattr(table, "to_numpy") else table
    try:
        cells = np.array(raw, dtype=object)
    except ValueError:  # ragged rows
        raise GridError("not_a_grid", name) from None
    if cells.size == 0:
        raise GridError("empty_grid", name)
    if cells.ndim != 2:
        raise GridError("not_a_grid", name)
    h, w = cells.shape
    if h > max_size or w > max_size:
        raise GridError("grid_too_big", name, rows=h, cols=w, limit=max_size)
    return np.array(
        [[cell_value(cells[r, c], name, r + 1, c + 1, max_abs) for c in range(w)] for r in range(h)]
    )


def number_text(v: float) -> str:
    """v as the shortest text that reads back as exactly v: 3, -0.5, 0.001, 123456.789, 1e-07."""
    v = float(v)
    return str(int(v)) if v.is_integer() and abs(v) < 1e16 else repr(v)


def editor_table(a):
    """A 2-D array as text cells for st.data_editor: a DataFrame with columns "1", "2", ...
    and rows numbered from 1. parse_grid(editor_table(a)) gives a back exactly."""
    import pandas as pd

    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"a grid must be 2-D, got shape {a.shape}")
    columns = {str(j + 1): [number_text(v) for v in a[:, j]] for j in range(a.shape[1])}
    return pd.DataFrame(columns, index=pd.RangeIndex(1, a.shape[0] + 1))
