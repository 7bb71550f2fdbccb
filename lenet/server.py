"""Start the app: ``python -m lenet.server [streamlit run options]``, which is
``streamlit run app.py [options]`` with two of Streamlit's behaviours changed before the
first request (no page script can do that: a script runs only once a request reached it).

1. ``pages/`` is not an old-style multipage folder. Streamlit treats a folder named
   ``pages/`` beside the entry script that way until ``st.navigation`` has run once in the
   process: the first request after a start, a deep link or a reconnecting browser,
   would get its page without app.py (no sidebar, no language switch).
2. A rerun asked for by a fragment this server process does not know becomes a rerun of
   the whole page. The draw page's canvas lives in an ``st.fragment``; after the server
   restarts, a browser that reconnects still names the old process's fragment, and
   Streamlit drops such a request (it logs "The fragment with id ... does not exist
   anymore"), so strokes would go unanswered until the page is reloaded. A whole-page
   rerun carries the same widget values, so the stroke is predicted.

``lenet.ui`` applies the first change too (for ``streamlit run app.py`` and AppTest)."""

from __future__ import annotations

import sys
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app.py"


def use_app_navigation() -> None:
    """Change 1: every run goes through app.py's ``st.navigation``."""
    from streamlit.runtime.pages_manager import PagesManager

    PagesManager.uses_pages_directory = False


def rerun_lost_fragments() -> None:
    """Change 2: an unknown fragment's rerun request reruns the whole page instead."""
    from streamlit.runtime.app_session import AppSession

    if getattr(AppSession.request_rerun, "reruns_lost_fragments", False):
        return
    request_rerun = AppSession.request_rerun

    def request_rerun_or_whole_page(self: AppSession, client_state=None) -> None:
        if client_state is not None and client_state.fragment_id:
            if not self.has_fragment(client_state.fragment_id):
                whole_page = type(client_state)()
                whole_page.CopyFrom(client_state)
                whole_page.ClearField("fragment_id")
                client_state = whole_page
        request_rerun(self, client_state)

    request_rerun_or_whole_page.reruns_lost_fragments = True
    AppSession.request_rerun = request_rerun_or_whole_page


def main(argv: list[str] | None = None) -> None:
    from streamlit.web import cli

    use_app_navigation()
    rerun_lost_fragments()
    args = sys.argv[1:] if argv is None else argv
    cli.main(["run", str(APP), *args], prog_name="streamlit")


if __name__ == "__main__":
    main()
