"""Exercises: output sizes, parameter counts, pooling and a kernel gradient, checked."""

import streamlit as st

from lenet import exercises, ui

t = ui.t
SEED, SCORE, LAST = "exercises_seed", "exercises_score", "exercises_last"

st.title(t("exercises.title"))
st.markdown(t("exercises.intro"))

kind_labels = {k: t(f"exercises.kind_{k}") for k in exercises.KINDS}
kind = st.radio(
    t("exercises.kind"),
    exercises.KINDS,
    format_func=kind_labels.get,
    horizontal=True,
    key="exercises_kind",
)
if SEED not in st.session_state:
    st.session_state[SEED] = exercises.new_seed()
if st.button(t("exercises.new"), key="exercises_new", icon=":material/casino:"):
    st.session_state[SEED] = exercises.next_seed(kind, st.session_state[SEED])
exercise = exercises.make_exercise(kind, st.session_state[SEED])

st.markdown(t(f"exercises.q.{exercise.prompt_key}", **exercise.fields))
if exercise.given:
    st.latex(exercise.given)

with st.form(key="exercises_form"):
    answer = st.text_input(
        t("exercises.answer"),
        key=f"exercises_answer_{exercise.id}",
        placeholder=t("exercises.answer_placeholder"),
    )
    submitted = st.form_submit_button(t("exercises.check"), key="exercises_check")

score = st.session_state.get(SCORE, exercises.Score())
if submitted:
    st.session_state[SCORE] = score = score.record(exercise.id, exercises.check(answer, exercise))
    st.session_state[LAST] = (exercise.id, answer)


def show_solution() -> None:
    for step in exercise.steps:
        st.markdown(t(f"exercises.step.{step.text}", **step.fields))
        if step.latex:
            st.latex(step.latex)


last_id, last_answer = st.session_state.get(LAST, (None, None))
verdict = exercises.check(last_answer, exercise) if last_id == exercise.id else None
if verdict == exercises.Verdict.RIGHT:
    st.success(t("exercises.right", answer=exercise.answer_text))
elif verdict == exercises.Verdict.WRONG:
    st.warning(t("exercises.wrong", answer=exercise.answer_text))
    st.subheader(t("exercises.solution"))
    show_solution()
elif verdict == exercises.Verdict.UNPARSEABLE and not last_answer.strip():
    st.error(t("exercises.empty"))
elif verdict == exercises.Verdict.UNPARSEABLE:
    st.error(t("exercises.unparseable", text=last_answer.strip()[:40]))
if verdict != exercises.Verdict.WRONG:
    with st.expander(t("exercises.show_solution")):
        show_solution()

if score.answered:
    st.caption(t("exercises.score", right=score.right, answered=score.answered))
else:
    st.caption(t("exercises.score_none"))
