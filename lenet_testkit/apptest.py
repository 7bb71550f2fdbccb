"""Running the app's pages with Streamlit's AppTest (no browser)."""

from __future__ import annotations

import os
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
