"""lenet.grids: the one parser of the labs' typed grids. Numbers in every notation a student
may type are read exactly or refused with a message; rows and columns count from 1."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lenet.grids import (
    CELL_REASONS,
    GRID_REASONS,
    MAX_ABS,
    GridError,
    editor_table,
    number_text,
    parse_grid,
)
from lenet.i18n import LANGUAGES, translate


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ("1e-3", 0.001),
        ("2.5e2", 250.0),
        ("1E-3", 0.001),
        ("+2.5e+2", 250.0),
        ("-1.5e-7", -1.5e-7),
        (".5", 0.5),
        ("5.", 5.0),
        (" 42 ", 42.0),
        ("1e6", 1e6),
        ("\u22122.5", -2.5),  # the typographic minus sign
        ("１.５", 1.5),  # full-width digits, as a Chinese keyboard types them
    ],
)
def test_numbers_are_read_exactly(typed, value):
    grid = parse_grid([[typed]], "X")
    assert grid.dtype == np.float64 and grid[0, 0] == value


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("1e7", "too_large"),
        ("-2.5e6", "too_large"),
        ("1e400", "not_finite"),
        ("abc", "not_a_number"),
        ("1e", "not_a_number"),
        ("e5", "not_a_number"),
        ("1e-3x", "not_a_number"),
        ("1,5", "not_a_number"),
        ("1_000", "not_a_number"),  # Python reads 1000; a student may have meant 1.000
        ("0x10", "not_a_number"),
        ("1/2", "not_a_number"),
        ("--1", "not_a_number"),
        ("nan", "not_finite"),
        ("-Infinity", "not_finite"),
        ("", "empty_cell"),
        ("  ", "empty_cell"),
    ],
)
def test_anything_else_is_refused_naming_the_cell(typed, reason):
    with pytest.raises(GridError) as info:
        parse_grid([[1, 2], [3, typed]], "X")
    error = info.value
    assert (error.reason, error.row, error.column) == (reason, 2, 2)
    assert error.fields["row"] == 2 and error.fields["col"] == 2 and error.fields["name"] == "X"
    assert str(error) == translate(f"grid.error_{reason}", **error.fields)
    if reason != "empty_cell":
        assert error.fields["value"] == typed.strip()


def test_limits_are_arguments():
    assert parse_grid([["5e2"]], max_abs=500.0).tolist() == [[500.0]]
    with pytest.raises(GridError) as info:
        parse_grid([["5e2"]], "W", max_abs=100.0)
    assert info.value.fields == {"name": "W", "row": 1, "col": 1, "value": "5e2", "limit": 100}
    assert parse_grid(np.ones((3, 3)), max_size=3).shape == (3, 3)
    with pytest.raises(GridError) as info:
        parse_grid(np.ones((3, 4)), max_size=3)
    assert info.value.reason == "grid_too_big" and info.value.row is None
    assert info.value.fields == {"name": "grid", "rows": 3, "cols": 4, "limit": 3}
    assert parse_grid([[MAX_ABS, -MAX_ABS]]).tolist() == [[MAX_ABS, -MAX_ABS]]


AWKWARD = [0.1, 1 / 3, 123456.789, -987654.3, 1e-3, 2.5e2, -1e-300, 5e-324, 1e6, 0.0, 7.0, -2.0]


def test_editor_table_round_trips_exactly():
    rng = np.random.default_rng(0)
    for a in (
        np.array([AWKWARD]),
        np.array(AWKWARD).reshape(3, 4),
        rng.uniform(-MAX_ABS, MAX_ABS, (10, 10)),
        rng.normal(size=(4, 7)) * 10.0 ** rng.integers(-300, 5, (4, 7)),
    ):
        table = editor_table(a)
        assert list(table.columns) == [str(j + 1) for j in range(a.shape[1])]
        assert list(table.index) == list(range(1, a.shape[0] + 1))  # rows as a student counts
        assert all(isinstance(v, str) for v in table.to_numpy().ravel())
        back = parse_grid(table, max_size=12)
        np.testing.assert_array_equal(back, a)
        assert [number_text(v) for v in a.ravel()] == table.to_numpy().ravel().tolist()
    assert editor_table([[3.0, 0.001, 1e-7]]).iloc[0].tolist() == ["3", "0.001", "1e-07"]


@pytest.mark.parametrize(
    ("table", "reason"),
    [
        ([], "empty_grid"),
        ([[]], "empty_grid"),
        (pd.DataFrame({"1": []}), "empty_grid"),
        ([[1, 2], [3]], "not_a_grid"),
        ([1, 2, 3], "not_a_grid"),
        (np.ones((11, 2)), "grid_too_big"),
    ],
)
def test_whole_grid_errors(table, reason):
    with pytest.raises(GridError) as info:
        parse_grid(table, "δ")
    assert info.value.reason == reason and info.value.row is info.value.column is None


def test_every_reason_has_a_message_in_both_languages():
    fields = {"name": "X", "row": 2, "col": 3, "value": "abc", "limit": 10**6, "rows": 9, "cols": 2}
    for lang in LANGUAGES:
        for reason in GRID_REASONS + CELL_REASONS:
            text = translate(f"grid.error_{reason}", lang, **fields)
            assert text.startswith("X") and "{" not in text
            if reason in CELL_REASONS:
                assert "2" in text and "3" in text
