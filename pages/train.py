"""Train your own LeNet-5: the lesson's switches, a job in the background (lenet.jobs),
live curves and C1's kernels, the result, and the model in the sidebar for this session."""

import streamlit as st

from lenet import jobs, train, ui, viz
from lenet import training_view as tv
from lenet.checkpoint import checkpoint_bytes

t = ui.t
runner, session = ui.training_jobs(), ui.session_id()

st.title(t("train.title"))
st.markdown(t("train.intro"))


# --- Data on first use ------------------------------------------------------------------------
@st.fragment(run_every=0.5)
def fetching() -> None:
    status = jobs.fetch_status()
    if status.state == "done":
        st.rerun()
    st.progress(status.fraction, text=t("train.fetching", percent=f"{status.fraction:.0%}"))


if not jobs.data_present():
    st.info(t("train.no_data", root=str(jobs.data_dir())))
    status = jobs.fetch_status()
    if status.state == "failed":
        st.error(t("train.fetch_failed", error=status.error, root=str(jobs.data_dir())))
    if status.state == "running":
        fetching()
    elif st.button(t("train.fetch"), key="tr_fetch", icon=":material/download:"):
        jobs.start_fetch()
        st.rerun()
    st.stop()


# --- Switches ---------------------------------------------------------------------------------
def apply_preset() -> None:
    for name, value in tv.widget_values(st.session_state["tr_preset"]).items():
        st.session_state[f"tr_{name}"] = value


# The student's switches survive a visit to another page (lenet.ui.keep).
ui.keep("tr_preset", *(f"tr_{name}" for name in tv.widget_values(tv.DEFAULT_PRESET)))
if "tr_preset" not in st.session_state:
    st.session_state["tr_preset"] = tv.DEFAULT_PRESET
    apply_preset()
st.radio(
    t("train.preset"),
    list(train.PRESETS),
    format_func={p: t(f"train.preset_{p}") for p in train.PRESETS}.get,
    key="tr_preset",
    on_change=apply_preset,
    horizontal=True,
)
st.caption(t(f"train.preset_{st.session_state['tr_preset']}_help"))

left, middle, right = st.columns(3)
for col, name, choices in (
    (left, "activation", train.ACTIVATIONS),
    (left, "pooling", train.POOLINGS),
    (middle, "c3_table", train.C3_TABLES),
    (middle, "output", train.OUTPUTS),
    (right, "optimizer", train.OPTIMIZERS),
):
    col.selectbox(
        t(f"train.{name}"),
        choices,
        key=f"tr_{name}",
        format_func={v: t(f"train.{name}_{v}") for v in choices}.get,
    )
right.select_slider(t("train.lr"), tv.LR_CHOICES, key="tr_lr", format_func=lambda v: f"{v:g}")
left.select_slider(t("train.batch_size"), tv.BATCH_CHOICES, key="tr_batch_size")
middle.select_slider(
    t("train.train_size"), tv.TRAIN_SIZES, key="tr_train_size", format_func=lambda v: f"{v:,}"
)
right.number_input(t("train.epochs"), 1, tv.MAX_EPOCHS, key="tr_epochs")
left.number_input(t("train.seed"), 0, 2**31 - 1, key="tr_seed")
middle.toggle(t("train.augment"), key="tr_augment", help=t("train.augment_help"))


def explain(key: str, fields: dict) -> str:
    """A SettingsError's, JobError's or failed job's message, in the reader's language."""
    if "name" in fields:
        fields = {**fields, "name": t(f"train.name.{fields['name']}")}
    return t(f"train.error.{key}", **fields)


values = {name: st.session_state[f"tr_{name}"] for name in tv.SWITCHES}
if st.button(t("train.start"), key="train_start", type="primary", icon=":material/play_arrow:"):
    try:
        runner.submit(
            session,
            tv.settings_from(st.session_state["tr_preset"], values),
            st.session_state["tr_preset"],
        )
    except (train.SettingsError, jobs.JobError) as e:
        st.error(explain(e.key, e.fields))


# --- The jobs of this session -----------------------------------------------------------------
def label(job: jobs.Job) -> str:
    return t("train.run_label", number=job.number, preset=t(f"train.preset_{job.preset}"))


def show_progress(job: jobs.Job) -> None:
    if job.state == jobs.QUEUED:
        st.info(t("train.queued", label=label(job), position=runner.position(job)))
        if st.button(t("train.cancel"), key=f"tr_cancel_{job.id}", icon=":material/close:"):
            runner.cancel(job)
        return
    remaining = job.remaining
    st.progress(
        job.progress,
        text=t(
            "train.running",
            label=label(job),
            percent=f"{job.progress:.0%}",
            elapsed=f"{job.elapsed:.0f}",
            remaining="…" if remaining is None else f"{remaining:.0f}",
        ),
    )
    if st.button(t("train.stop"), key=f"tr_stop_{job.id}", icon=":material/stop:"):
        runner.stop(job)
    if job.kernels is not None:
        ui.image(st, tv.kernels_image(job.kernels), t("train.kernels_caption"))


def charts(shown: list[jobs.Job], where: str) -> None:
    shown = [j for j in shown if j.train_curve]
    if not shown:  # nothing measured yet: the data loads, the first batches run
        return
    left, right = st.columns(2)
    ui.chart(
        left,
        tv.curves_figure(
            shown,
            "train_curve",
            label,
            title=t("train.loss_title"),
            x_label=t("train.epochs_axis"),
            y_label=t("train.loss"),
        ),
        key=f"tr_loss_{where}",
    )
    ui.chart(
        right,
        tv.curves_figure(
            shown,
            "heldout_curve",
            label,
            title=t("train.heldout_title"),
            x_label=t("train.epochs_axis"),
            y_label=t("train.accuracy"),
        ),
        key=f"tr_acc_{where}",
    )
    last = [j for j in shown if j.heldout_curve and j.train_curve]
    if last:
        job = last[-1]
        st.caption(
            t(
                "train.curves_caption",
                label=label(job),
                loss=job.train_curve[-1][1],
                accuracy=job.heldout_curve[-1][1],
            )
        )


@st.fragment(run_every=1.0)
def live() -> None:
    mine = runner.jobs(session)
    active = [j for j in mine if j.state in (jobs.QUEUED, jobs.RUNNING)]
    if not active:
        st.rerun()  # finished: the whole page shows the result and the sidebar the model
    for job in active:
        show_progress(job)
    running = [j for j in mine if j.state == jobs.RUNNING or j.model is not None][-2:]
    charts(running, "live")


def show_result(job: jobs.Job) -> None:
    with st.container(key="train-result"):
        st.subheader(t("train.result_title", label=label(job)))
        if job.reason:
            st.warning(t(f"train.ended_{job.reason}", seconds=f"{job.elapsed:.0f}"))
        a, b, c = st.columns(3)
        a.metric(t("train.test_accuracy"), tv.percent(job.result["test_accuracy"]))
        b.metric(t("train.time"), t("train.seconds", seconds=f"{job.elapsed:.0f}"))
        b.caption(
            t("train.mistakes", n=job.result["misclassified"], total=job.result["test_images"])
        )
        comparison = tv.compare(job, ui.card_for(f"lenet5-{job.model.config.variant}.safetensors"))
        if comparison is not None:
            c.metric(
                t("train.shipped", variant=comparison.variant),
                tv.percent(comparison.shipped_accuracy),
                delta=f"{-comparison.gap_points:+.2f} pp",
            )
            c.caption(
                t(
                    "train.comparison",
                    variant=comparison.variant,
                    epochs=comparison.shipped_epochs,
                    seconds=f"{comparison.shipped_seconds:.0f}",
                    gap=f"{comparison.gap_points:.2f}",
                )
            )
        ui.chart(
            st,
            viz.confusion(
                job.result["confusion_matrix"],
                title=t("train.confusion_title"),
                x_label=t("train.predicted"),
                y_label=t("train.true_digit"),
                count_label=t("train.images"),
            ),
            key=f"tr_confusion_{job.id}",
        )
        st.caption(t("train.confusion_caption", n=job.result["misclassified"]))
        use, download = st.columns(2)
        if use.button(t("train.use"), key=f"tr_use_{job.id}", icon=":material/check:"):
            ui.choose_checkpoint(ui.OWN_PREFIX + job.id)
            st.rerun()
        download.download_button(
            t("train.download"),
            checkpoint_bytes(job.model, job.card),
            file_name=f"lenet5-own-{job.number}.safetensors",
            mime="application/octet-stream",
            key=f"tr_download_{job.id}",
        )


mine = runner.jobs(session)
if any(j.state in (jobs.QUEUED, jobs.RUNNING) for j in mine):
    live()
finished = [j for j in mine if j.state in jobs.FINISHED]
if finished and (job := finished[-1]).state == jobs.FAILED:
    st.error(explain(*job.error))
elif finished and job.state == jobs.CANCELLED:
    st.info(t("train.cancelled", label=label(job)))
with_model = [j for j in mine if j.model is not None]
if with_model and not any(j.state == jobs.RUNNING for j in mine):
    show_result(with_model[-1])
    st.subheader(t("train.compare_title"))
    charts(with_model[-2:], "done")
st.caption(
    t(
        "train.limits",
        models=jobs.MODELS_PER_SESSION,
        minutes=f"{runner.limits.time_limit_s / 60:g}",
    )
)
