"""Running the app's pages with Streamlit's AppTest (no browser)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "pages").glob("*.py"))


def run_page(page: str, lang: str = "en", timeout: float = 30, **state) -> AppTest:
    """Run app.py (sidebar and navigation included) on ``page``, e.g. "pages/pooling.py".
    Extra keyword arguments are put into session_state first.

    AppTest's own switch_page runs the page script alone, without app.py's sidebar, so the
    page is chosen as the landing page through LENET_START_PAGE instead; it stays set for
    the reruns a test makes, and is removed at the next run_page."""
    os.environ["LENET_START_PAGE"] = Path(page).stem
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    at.query_params["lang"] = lang
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def texts(at: AppTest) -> str:
    """Every text the page shows (markdown, titles, captions, metrics, messages), joined."""
    parts = []
    for kind in (
        "title",
        "header",
        "subheader",
        "markdown",
        "caption",
        "info",
        "warning",
        "error",
        "success",
        "latex",
        "text",
    ):
        parts += [str(getattr(e, "value", "")) for e in getattr(at, kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    return "\n".join(parts)


# --- A lab's matrices as tables (lenet.ui.matrix_table / maps_tables) -----------------------


def keyed_block(at: AppTest, key: str):
    """The container made with ``st.container(key=key)``."""
    stack = [at.main]
    while stack:
        node = stack.pop()
        if str(getattr(node.proto, "id", "")).endswith(f"-{key}"):
            return node
        stack += list(getattr(node, "children", {}).values())
    raise AssertionError(f"no container {key!r} on the page")


def _tables(at: AppTest, key: str) -> list[list[list[str]]]:
    """The markdown tables in container ``key``: each a list of rows of cell texts, without
    the header row and the row numbers."""
    found = []
    for node in keyed_block(at, key).children.values():
        if node.type != "markdown":
            continue
        for block in node.value.split("\n\n"):
            rows = [line for line in block.splitlines() if line.startswith("|")]
            if rows:
                found.append([re.split(r"(?<!\\)\|", row)[2:-1] for row in rows[2:]])
    assert found, f"no table in {key!r}"
    return found


MARKED = re.compile(r"^:orange-background\[\*\*\[(.*)\]\*\*\]$")


def _label(cell: str) -> str:
    cell = cell.strip()
    marked = MARKED.match(cell)
    return (marked.group(1) if marked else cell).replace("\\|", "|")


def _number(label: str) -> float:
    """The value a cell shows: its label, or what follows its "=" (e.g. "X₁ = 5 → P₁")."""
    text = label.split("=")[-1].split("→")[0].strip()
    return float(text)


def table_values(at: AppTest, key: str):
    """(values as shown, the labels written in the cells) of matrix_table ``key``; for
    maps_tables, (C, H, W) arrays, one map per table."""
    import numpy as np

    labels = [
        np.array([[_label(c) for c in row] for row in t], dtype=object) for t in _tables(at, key)
    ]
    values = [np.vectorize(_number, otypes=[float])(a) for a in labels]
    if len(values) == 1:
        return values[0], labels[0]
    return np.stack(values), np.stack(labels)


def table_outlined(at: AppTest, key: str) -> set[tuple[int, int]]:
    """The (row, col) cells matrix_table ``key`` marks."""
    return {
        (i, j)
        for table in _tables(at, key)
        for i, row in enumerate(table)
        for j, cell in enumerate(row)
        if MARKED.match(cell.strip())
    }


def table_title(at: AppTest, key: str) -> str:
    """The title written above matrix_table ``key`` (its first line, in bold)."""
    first = next(iter(keyed_block(at, key).children.values()))
    return first.value.split("\n")[0].strip("*")
