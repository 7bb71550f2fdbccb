"""Model card: how well each shipped LeNet-5 does next to the paper, how it was trained, and
which digits it gets wrong."""

import pandas as pd
import streamlit as st

from lenet import cards, describe, ui, viz

t = ui.t
names = ui.checkpoints()
all_cards = {name: ui.card_for(name) for name in names}
variants = {name: ui.variant_of(name) for name in names}

st.title(t("model_card.title"))
st.markdown(t("model_card.intro"))

# --- The variants next to the paper -----------------------------------------------------------
st.header(t("model_card.compare_title"))
rows = cards.comparison(all_cards, variants)
labels = [
    r.variant if r.source == "checkpoint" else t(f"model_card.source_{r.source}") for r in rows
]
table = pd.DataFrame(
    {
        t("model_card.col_error"): [
            t("model_card.no_card_short") if r.error is None else f"{r.error:.2%}" for r in rows
        ],
        t("model_card.col_accuracy"): [
            "—" if r.error is None else f"{r.test_accuracy:.2%}" for r in rows
        ],
        t("model_card.col_source"): [r.name or t("model_card.paper_ref") for r in rows],
    },
    index=pd.Index(labels, name=t("model_card.col_model")),
)
left, right = st.columns([3, 2])
left.table(table)
left.caption(t("model_card.compare_caption"))
known = [i for i, r in enumerate(rows) if r.error is not None]
ui.chart(
    right,
    viz.bars(
        [labels[i] for i in known],
        [rows[i].error for i in known],
        title=t("model_card.compare_chart_title"),
        x_label=t("model_card.col_model"),
        y_label=t("model_card.col_error"),
        muted=[k for k, i in enumerate(known) if not rows[i].name],
    ),
    key="model_card_compare",
)
if known:
    right.caption(describe.lowest([labels[i] for i in known], [rows[i].error for i in known], t))
if missing := cards.missing_variants(variants):
    st.caption(t("model_card.missing", variants=", ".join(missing)))
if not names:
    st.warning(t("common.no_checkpoints"))
    st.stop()

# --- One checkpoint in detail -----------------------------------------------------------------
# The sidebar's checkpoint by default, and again whenever the sidebar changes.
sidebar_choice = st.session_state.get(ui.CHECKPOINT_KEY)
if sidebar_choice in names and st.session_state.get("model_card_followed") != sidebar_choice:
    st.session_state["model_card_followed"] = sidebar_choice
    st.session_state["model_card_checkpoint"] = sidebar_choice
if st.session_state.get("model_card_checkpoint") not in names:  # e.g. back from another page
    st.session_state["model_card_checkpoint"] = (
        sidebar_choice if sidebar_choice in names else names[0]
    )
option_labels = {name: ui.checkpoint_label(name) for name in names}
name = st.selectbox(
    t("model_card.pick"), names, format_func=option_labels.get, key="model_card_checkpoint"
)
card = all_cards[name] or {}
acc = cards.accuracy(card)
st.header(t("model_card.detail_title", variant=variants[name]))
if acc is None:
    st.error(t("model_card.no_card", name=name))
else:
    m1, m2, m3, m4 = st.columns(4)
    m1.metric(t("model_card.metric_accuracy"), f"{acc.accuracy:.2%}")
    m2.metric(t("model_card.metric_error"), f"{acc.error:.2%}")
    if acc.misclassified is not None and acc.test_images is not None:
        m3.metric(
            t("model_card.metric_misclassified"),
            t("model_card.of", part=acc.misclassified, total=acc.test_images),
        )
    if (duration := cards.minutes_seconds(card.get("train_seconds"))) is not None:
        m4.metric(
            t("model_card.metric_time"), t("model_card.duration", m=duration[0], s=duration[1])
        )
if card.get("dry_run"):
    st.warning(t("model_card.dry_run"))

per_class, confusion = cards.per_class_accuracy(card), cards.confusion_matrix(card)
left, right = st.columns(2)
if per_class is not None:
    ui.chart(
        left,
        viz.bars(
            cards.DIGITS,
            per_class,
            title=t("model_card.per_class_title"),
            x_label=t("model_card.digit"),
            y_label=t("model_card.accuracy"),
            highlight=[int(per_class.argmin())],
            zoom=True,
        ),
        key="model_card_per_class",
    )
    left.caption(describe.per_class(per_class, t))
    left.caption(t("model_card.per_class_caption"))
if confusion is not None:
    ui.chart(
        right,
        viz.confusion(
            confusion,
            title=t("model_card.confusion_title"),
            x_label=t("model_card.predicted"),
            y_label=t("model_card.true_digit"),
            count_label=t("model_card.images"),
        ),
        key="model_card_confusion",
    )
    right.caption(describe.confusion(confusion, t))
    right.caption(t("model_card.confusion_caption"))

if (hist := cards.history(card)) is not None:
    left, right = st.columns(2)
    ui.chart(
        left,
        viz.curves(
            hist.epochs,
            {t("model_card.train_loss"): hist.train_loss},
            title=t("model_card.loss_title"),
            x_label=t("model_card.epoch"),
            y_label=t("model_card.train_loss"),
        ),
        key="model_card_loss",
    )
    left.caption(describe.loss_curve(hist.epochs, hist.train_loss, t))
    ui.chart(
        right,
        viz.curves(
            hist.epochs,
            {t("model_card.accuracy"): hist.test_accuracy},
            title=t("model_card.accuracy_title"),
            x_label=t("model_card.epoch"),
            y_label=t("model_card.accuracy"),
            percent=True,
        ),
        key="model_card_accuracy",
    )
    right.caption(describe.accuracy_curve(hist.epochs, hist.test_accuracy, t))

# --- Gallery of mistakes ----------------------------------------------------------------------
st.header(t("model_card.gallery_title"))
sample, model = ui.sample(), ui.model_for(name)
if sample is None:
    st.info(t("model_card.sample_missing"))
elif model is None:
    st.warning(t("model_card.model_missing", name=name))
else:
    found = cards.mistakes(model, sample.images, sample.labels)
    shown = found[: cards.GALLERY_SIZE]
    st.caption(
        t(
            "model_card.gallery_caption",
            wrong=len(found),
            total=len(sample.labels),
            shown=len(shown),
        )
    )
    columns = st.columns(cards.GALLERY_COLUMNS)
    for k, mistake in enumerate(shown):
        facts = {
            "label": mistake.label,
            "predicted": mistake.predicted,
            "confidence": mistake.confidence,
            "index": int(sample.indices[mistake.index]),
        }
        columns[k % cards.GALLERY_COLUMNS].image(
            viz.upscale(mistake.image, 84),
            caption=t("model_card.mistake", **facts),
            alt=describe.mistake_image(text=t, **facts),
        )

# --- Drawn digits it misreads (issue 19.3) ---------------------------------------------------
if (drawn := cards.drawn(card)) is not None:
    st.subheader(t("model_card.drawn_title"))
    pens = ", ".join(f"{t(f'model_card.pen_{pen}')} {acc:.1%}" for pen, acc in drawn.by_pen.items())
    st.caption(
        t(
            "model_card.drawn_caption",
            accuracy=drawn.accuracy,
            samples=drawn.samples,
            split=drawn.split,
            pens=pens,
            wrong=drawn.errors,
            shown=len(drawn.mistakes),
        )
    )
    columns = st.columns(cards.GALLERY_COLUMNS)
    for k, miss in enumerate(drawn.mistakes):
        facts = {"label": miss.label, "predicted": miss.predicted, "source": miss.source}
        text = t("model_card.drawn_mistake", pen=t(f"model_card.pen_{miss.pen}"), **facts)
        columns[k % cards.GALLERY_COLUMNS].image(
            viz.upscale(miss.image, 84), caption=text, alt=text
        )

# --- How it was trained -----------------------------------------------------------------------
st.header(t("model_card.training_title"))
if isinstance(card.get("command"), str):
    st.markdown(t("model_card.command"))
    st.code(card["command"], language="bash")
hp_labels = {k: t(f"model_card.hp.{k}") for k in cards.HYPERPARAMETERS}


def in_language(value) -> str | None:
    """A description the training command wrote, in the page's language (else None)."""
    known = cards.described(value)
    return t(known[0], **known[1]) if known else None


settings = [(hp_labels.get(k, k), v) for k, v in cards.hyperparameters(card, in_language)]
settings += [(t(f"model_card.{k}"), v) for k, v in cards.run_facts(card)]


def key_values(pairs: list[tuple[str, str]], column: str) -> pd.DataFrame:
    return pd.DataFrame({column: [v for _, v in pairs]}, index=[k for k, _ in pairs])


left, right = st.columns(2)
if settings:
    left.subheader(t("model_card.settings"))
    left.table(key_values(settings, t("model_card.col_value")))
if versions := cards.versions(card):
    right.subheader(t("model_card.versions"))
    right.table(key_values(versions, t("model_card.col_value")))
if checksums := cards.checksums(card):
    st.subheader(t("model_card.checksums", dataset=cards.format_value(card["dataset"].get("name"))))
    # In `sha256sum` format, wrapped: a table cell would scroll sideways, out of keyboard reach.
    lines = (f"{sha}  {file}" for file, sha in checksums)
    st.code("\n".join(lines), language=None, wrap_lines=True)
if card.get("prototypes"):
    text = in_language(card["prototypes"]) or cards.format_value(card["prototypes"])
    st.caption(t("model_card.prototypes", text=text))
