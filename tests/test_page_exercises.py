"""The exercises page: runs in both languages, checks answers, shows solutions, keeps a score."""

import pytest

from lenet.exercises import KINDS, make_exercise
from lenet.i18n import translate
from lenet_testkit.apptest import run_page, texts

PAGE = "pages/exercises.py"


def current(at):
    """The exercise on screen, rebuilt from the seed the page keeps in session state."""
    return make_exercise(at.radio(key="exercises_kind").value, at.session_state["exercises_seed"])


def question_shown(at) -> tuple[str, str]:
    """The question's text and, for pooling and the kernel gradient, its matrices."""
    return at.markdown[1].value, at.latex[0].value if current(at).given else ""


def answer(at, text: str):
    at.text_input(key=f"exercises_answer_{current(at).id}").input(text)
    at.button(key="exercises_check").click()
    return at.run()


def no_exception(at):
    assert not at.exception, [e.value for e in at.exception]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_runs_and_asks_with_the_numbers_of_the_seed(lang):
    at = run_page(PAGE, lang, exercises_seed=5)
    no_exception(at)
    e = make_exercise(KINDS[0], 5)
    assert translate(f"exercises.q.{e.prompt_key}", lang, **e.fields) in texts(at)
    assert translate("exercises.score_none", lang) in texts(at)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_right_answer_is_praised(lang):
    at = run_page(PAGE, lang, exercises_seed=11)
    for n, kind in enumerate(KINDS, start=1):
        at.radio(key="exercises_kind").set_value(kind).run()
        no_exception(at)
        e = current(at)
        assert e.kind == kind
        answer(at, f" {e.answer_text} ")
        no_exception(at)
        assert [s.value for s in at.success] == [
            translate("exercises.right", lang, answer=e.answer_text).removeprefix("✅ ")
        ]
        assert not at.warning and not at.error
        assert translate("exercises.score", lang, right=n, answered=n) in texts(at)


@pytest.mark.parametrize("kind", KINDS)
def test_wrong_answer_shows_the_worked_solution(kind):
    at = run_page(PAGE, "en", exercises_seed=3)
    at.radio(key="exercises_kind").set_value(kind).run()
    e = current(at)
    answer(at, str(e.answer + 1000))
    no_exception(at)
    assert not at.success
    assert e.answer_text in at.warning[0].value
    assert translate("exercises.solution", "en") in [h.value for h in at.subheader]
    shown_latex = [x.value for x in at.latex]
    for step in e.steps:
        assert translate(f"exercises.step.{step.text}", "en", **step.fields) in texts(at)
        if step.latex:
            assert f"$$\n{step.latex}\n$$" in shown_latex
    assert translate("exercises.score", "en", right=0, answered=1) in texts(at)


def test_garbage_gives_a_message_not_an_exception():
    at = run_page(PAGE, "zh", exercises_seed=1)
    for garbage in ["twelve", "1e400", "3,75", "nan", "{x}", "9" * 300]:
        answer(at, garbage)
        no_exception(at)
        assert at.error and not at.success and not at.warning, garbage
    assert translate("exercises.score_none", "zh") in texts(at)


def test_empty_answer_asks_for_a_number():
    at = run_page(PAGE, "en", exercises_seed=1)
    at.button(key="exercises_check").click().run()
    no_exception(at)
    assert [e.value for e in at.error] == [translate("exercises.empty", "en")]


def test_new_exercise_changes_the_numbers_and_reruns_keep_them():
    at = run_page(PAGE, "en", exercises_seed=2)
    for kind in KINDS:
        at.radio(key="exercises_kind").set_value(kind).run()
        before = at.session_state["exercises_seed"]
        question = question_shown(at)
        at.run()  # a plain rerun keeps the exercise
        assert at.session_state["exercises_seed"] == before
        assert question_shown(at) == question
        at.button(key="exercises_new").click().run()
        no_exception(at)
        assert at.session_state["exercises_seed"] != before
        assert question_shown(at) != question


def test_new_exercise_clears_the_verdict_and_the_score_stays():
    at = run_page(PAGE, "en", exercises_seed=4)
    answer(at, current(at).answer_text)
    assert at.success
    at.button(key="exercises_new").click().run()
    no_exception(at)
    assert not at.success
    assert translate("exercises.score", "en", right=1, answered=1) in texts(at)
    answer(at, "-1")
    assert translate("exercises.score", "en", right=1, answered=2) in texts(at)


def test_language_switch_keeps_exercise_and_verdict():
    at = run_page(PAGE, "en", exercises_seed=8)
    e = current(at)
    answer(at, e.answer_text)
    at.session_state["lang"] = "zh"  # the sidebar's switch (AppTest hides the sidebar here)
    at.run()
    no_exception(at)
    assert current(at) == e
    assert [s.value for s in at.success] == [
        translate("exercises.right", "zh", answer=e.answer_text).removeprefix("✅ ")
    ]
