"""The read-a-number page's figures: valid for plotly, showing the reading they were given
(boxes, labels, the sliding view, the candidate graph), and a small payload."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from lenet import viz
from lenet.i18n import translate
from lenet.model import build_model
from lenet.preprocess import rgba_to_ink
from lenet.reading import read_number, sliding_outputs
from lenet_testkit.digits import strip


def english(key: str, **fields) -> str:
    return translate(key, "en", **fields)


@pytest.fixture(scope="module")
def read():
    torch_model = build_model("classic").eval()  # untrained: the figures, not the answers
    canvas, _ = strip([7, 2, 0, 4], gap=30)
    return canvas, read_number(canvas, torch_model), sliding_outputs(canvas, torch_model)


def test_the_reading_figure_shows_boxes_labels_and_the_sliding_view(read):
    canvas, reading, (positions, probabilities) = read
    fig = viz.reading_figure(rgba_to_ink(canvas), reading, positions, probabilities, english)
    go.Figure(fig.to_dict())  # raises on any invalid property
    assert fig.layout.title.text.replace("<br>", " ") == english("read_number.figure_title")
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert [(s.x0, s.y0, s.x1, s.y1) for s in rects] == [tuple(b) for b in reading.boxes]
    dashed = [s.line.dash == "dash" for s in rects]
    assert dashed == reading.unsure  # unsure boxes differ by line style, not colour alone
    labels = [a.text for a in fig.layout.annotations]
    assert [label[0] for label in labels] == list(reading.digits)
    assert all(
        ("?" in label) == unsure for label, unsure in zip(labels, reading.unsure, strict=True)
    )
    heatmap = fig.data[1]
    assert np.allclose(np.asarray(heatmap.z), np.round(probabilities.T, 3))
    assert np.allclose(np.asarray(heatmap.x), np.round(positions, 1))
    assert len(pio.to_json(fig.to_dict(), validate=False)) < 60_000  # the PNG is small


def test_the_graph_draws_every_candidate_and_the_winning_path(read):
    _, reading, _ = read
    fig = viz.segmentation_graph(reading, english)
    go.Figure(fig.to_dict())
    arcs = [t for t in fig.data if t.mode == "lines"]
    assert len(arcs) == len(reading.candidates)
    bold = [i for i, t in enumerate(arcs) if t.line.width == 4]
    assert bold == sorted(reading.path)
    assert all(arcs[i].line.dash == "solid" for i in bold)
    labels = [t.text[0] for t in fig.data if t.mode == "text"]
    assert labels == [f"{c.digit} {c.score:.2f}" for c in reading.candidates]
