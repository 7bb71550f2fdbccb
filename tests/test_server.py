"""lenet.server: the launcher's two changes to Streamlit, checked on Streamlit's own
classes (the browser tests check them end to end: a deep link to a fresh server, and a
server restart mid-session)."""

from __future__ import annotations

import pytest
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.runtime.app_session import AppSession
from streamlit.runtime.pages_manager import PagesManager

from lenet import server


class FakeSession:
    """Just what AppSession.request_rerun's wrapper reads: the fragments it knows."""

    def __init__(self, fragments: set[str]):
        self.fragments = fragments

    def has_fragment(self, fragment_id: str) -> bool:
        return fragment_id in self.fragments


@pytest.fixture
def requests(monkeypatch) -> list:
    """The rerun requests that reach Streamlit's own request_rerun, with the launcher's
    wrapper installed around it."""
    seen: list = []
    monkeypatch.setattr(AppSession, "request_rerun", lambda self, cs=None: seen.append(cs))
    server.rerun_lost_fragments()
    return seen


def client_state(fragment_id: str) -> ClientState:
    state = ClientState(
        fragment_id=fragment_id, page_script_hash="draw-page", query_string="lang=zh"
    )
    widget = state.widget_states.widgets.add()
    widget.id, widget.int_value = "stroke_width", 25
    return state


def test_an_unknown_fragment_reruns_the_whole_page_with_the_same_widgets(requests):
    sent = client_state("fragment-of-the-old-process")
    AppSession.request_rerun(FakeSession({"another"}), sent)
    (got,) = requests
    assert got.fragment_id == ""  # a whole-page rerun
    assert got.page_script_hash == "draw-page" and got.query_string == "lang=zh"
    assert [(w.id, w.int_value) for w in got.widget_states.widgets] == [("stroke_width", 25)]
    assert sent.fragment_id == "fragment-of-the-old-process"  # the caller's message is untouched


def test_a_known_fragment_and_a_whole_page_rerun_pass_unchanged(requests):
    known = client_state("canvas")
    AppSession.request_rerun(FakeSession({"canvas"}), known)
    AppSession.request_rerun(FakeSession(set()), None)  # "rerun" with no client state
    assert requests == [known, None]
    assert requests[0] is known


def test_the_wrapper_is_installed_once(requests):
    wrapper = AppSession.request_rerun
    server.rerun_lost_fragments()
    assert AppSession.request_rerun is wrapper


def test_pages_folder_is_not_an_old_style_multipage_app(monkeypatch):
    monkeypatch.setattr(PagesManager, "uses_pages_directory", None)
    server.use_app_navigation()
    assert PagesManager.uses_pages_directory is False
    # Streamlit decides it once, in the first PagesManager: it must stay decided.
    PagesManager(str(server.APP))
    assert PagesManager.uses_pages_directory is False


def test_the_launcher_runs_app_py_with_the_given_options(monkeypatch):
    from streamlit.web import cli

    calls = []
    monkeypatch.setattr(cli, "main", lambda args, prog_name: calls.append((args, prog_name)))
    monkeypatch.setattr(server, "rerun_lost_fragments", lambda: calls.append("patched"))
    monkeypatch.setattr(PagesManager, "uses_pages_directory", None)
    server.main(["--server.port", "8600"])
    assert calls == ["patched", (["run", str(server.APP), "--server.port", "8600"], "streamlit")]
    assert server.APP.name == "app.py" and server.APP.is_file()
    assert PagesManager.uses_pages_directory is False


def test_a_server_started_after_an_apptest_opens_the_draw_page(monkeypatch):
    """AppTest's run_page leaves LENET_START_PAGE set for its reruns; a server the tests or
    benchmarks start afterwards must not inherit it (its "/" would be another page)."""
    from lenet_testkit.browser import server_env

    monkeypatch.setenv("LENET_START_PAGE", "invariance")
    assert "LENET_START_PAGE" not in server_env()
    assert server_env({"LENET_START_PAGE": "pooling"})["LENET_START_PAGE"] == "pooling"
