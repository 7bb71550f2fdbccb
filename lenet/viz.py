"""Plotly figures built from numpy arrays (no Streamlit here; every text is passed in,
already translated, so this module is language-free and unit-testable)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import plotly.colors
import plotly.graph_objects as go

# Colour-blind-safe scales: cividis for activations, a blue-orange diverging scale for
# signed values (weights, gradients).
SEQUENTIAL = "Cividis"
DIVERGING = "RdBu_r"
HIGHLIGHT = "#E69F00"  # Okabe-Ito orange
BAR = "#56B4E9"  # Okabe-Ito sky blue
MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}


def upscale(image: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour enlargement of a small 2-D image to about ``size`` pixels wide."""
    factor = max(1, size // max(image.shape))
    return np.kron(image, np.ones((factor, factor), dtype=image.dtype))


def thumbnail(image: np.ndarray, size: int = 140) -> np.ndarray:
    """A uint8 image scaled (nearest neighbour: pixels stay visible) so its longer side is
    ``size``, centred on a black square of that size: the preprocessing steps side by side."""
    from PIL import Image

    h, w = image.shape
    scale = size / max(h, w)
    resized = np.asarray(
        Image.fromarray(image).resize(
            (max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.NEAREST
        )
    )
    square = np.zeros((size, size), dtype=np.uint8)
    top, left = (size - resized.shape[0]) // 2, (size - resized.shape[1]) // 2
    square[top : top + resized.shape[0], left : left + resized.shape[1]] = resized
    return square


def mosaic(maps: np.ndarray, cols: int, gap: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Tile maps (C, H, W) into one 2-D array with NaN gaps; also returns, for every cell,
    the index of the map it belongs to (-1 in the gaps), for the hover text."""
    c, h, w = maps.shape
    rows = math.ceil(c / cols)
    tiled = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), np.nan, dtype=np.float32)
    where = np.full(tiled.shape, -1, dtype=np.int8)  # int8 keeps the page's payload small
    for k in range(c):
        top, left = (k // cols) * (h + gap), (k % cols) * (w + gap)
        tiled[top : top + h, left : left + w] = maps[k]
        where[top : top + h, left : left + w] = k
    return tiled, where


def _fast_figure(data: list[dict], layout: dict) -> go.Figure:
    """A figure from plain dicts, without plotly's per-property validation (it costs ~10 ms
    a figure, and the draw page redraws seven figures per stroke). Every builder that
    uses this is validated in tests/test_viz.py instead."""
    return go.Figure({"data": data, "layout": layout}, _validate=False)


def _colorscale(name: str) -> list:
    return plotly.colors.get_colorscale(name)


def feature_maps(
    maps: np.ndarray,
    *,
    cols: int,
    title: str,
    map_label: str,
    value_label: str,
    colorscale: str = SEQUENTIAL,
    symmetric: bool = False,
    height: int | None = None,
) -> go.Figure:
    """A grid of feature maps as one heatmap on a shared colour scale, with hover values."""
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 3:
        raise ValueError(f"expected maps of shape (C, H, W), got {maps.shape}")
    tiled, where = mosaic(maps, cols)
    if symmetric:
        bound = float(np.abs(maps).max()) or 1.0
        zmin, zmax = -bound, bound
    else:
        zmin, zmax = float(maps.min()), float(maps.max())
        if zmax <= zmin:
            zmax = zmin + 1.0
    c, h, w = maps.shape
    k = np.arange(c)
    heatmap = {
        "type": "heatmap",
        "z": np.round(tiled, 3),
        "customdata": where,
        "colorscale": _colorscale(colorscale),
        "zmin": zmin,
        "zmax": zmax,
        "hovertemplate": (
            f"{map_label} %{{customdata}}<br>{value_label} %{{z:.3f}}<extra></extra>"
        ),
        "hoverongaps": False,
        "colorbar": {"thickness": 10, "len": 0.9},
    }
    # Map numbers as one text trace: far cheaper than one annotation per map.
    numbers = {
        "type": "scatter",
        "x": (k % cols) * (w + 1) + (w - 1) / 2,
        "y": (k // cols) * (h + 1) - 1.2,
        "text": [str(i) for i in k],
        "mode": "text",
        "textfont": {"size": 10},
        "hoverinfo": "skip",
        "showlegend": False,
    }
    layout = {
        "title": {"text": title, "font": {"size": 14}},
        "margin": MARGIN,
        "height": height or int(120 + 260 * tiled.shape[0] / tiled.shape[1] * 2.2),
        "xaxis": {"visible": False, "constrain": "domain"},
        "yaxis": {"visible": False, "autorange": "reversed", "scaleanchor": "x"},
        "plot_bgcolor": "rgba(0,0,0,0)",
    }
    return _fast_figure([heatmap, numbers], layout)


def vector(values: np.ndarray, *, cols: int, title: str, value_label: str) -> go.Figure:
    """A 1-D activation (C5's 120 or F6's 84 values) folded into a small grid."""
    values = np.asarray(values, dtype=np.float32).ravel()
    rows = math.ceil(len(values) / cols)
    grid = np.full(rows * cols, np.nan, dtype=np.float32)
    grid[: len(values)] = values
    heatmap = {
        "type": "heatmap",
        "z": np.round(grid.reshape(rows, cols), 3),
        "customdata": np.arange(rows * cols, dtype=np.int16).reshape(rows, cols),
        "colorscale": _colorscale(DIVERGING),
        "zmid": 0,
        "hovertemplate": f"#%{{customdata}}<br>{value_label} %{{z:.3f}}<extra></extra>",
        "hoverongaps": False,
        "colorbar": {"thickness": 10},
    }
    layout = {
        "title": {"text": title, "font": {"size": 14}},
        "margin": MARGIN,
        "height": 80 + 28 * rows,
        "xaxis": {"visible": False},
        "yaxis": {"visible": False, "autorange": "reversed"},
    }
    return _fast_figure([heatmap], layout)


# The draw page's figures of the network's layers, in page order: C1 beside its kernels,
# C3, then the deeper layers in tabs.
LAYER_FIGURES = ("c1", "kernels", "c3", "s2", "s4", "c5", "f6")
_MAP_COLS = {"c1": 3, "c3": 8, "s2": 6, "s4": 8}


def layer_figure(
    name: str, activations: dict[str, np.ndarray], kernels: np.ndarray, text: Callable[..., str]
) -> go.Figure:
    """One of LAYER_FIGURES for a prediction's activations (``kernels``: C1's weights,
    (6, 5, 5)); ``text`` translates the draw page's catalogue keys (``draw.c1_title``...)."""
    if name not in LAYER_FIGURES:
        raise ValueError(f"unknown layer figure {name!r}; choose one of {', '.join(LAYER_FIGURES)}")
    if name == "kernels":
        return feature_maps(
            kernels, cols=2, title=text("draw.kernels_title"), colorscale=DIVERGING,
            symmetric=True, map_label=text("draw.kernel"), value_label=text("draw.weight"),
            height=420,
        )  # fmt: skip
    title, value_label = text(f"draw.{name}_title"), text("draw.value")
    if name in _MAP_COLS:
        return feature_maps(
            activations[name], cols=_MAP_COLS[name], title=title,
            map_label=text("draw.map"), value_label=value_label,
        )  # fmt: skip
    return vector(activations[name], cols=12, title=title, value_label=value_label)


def probabilities(
    probs: Sequence[float], *, title: str, x_label: str, y_label: str, true_label: int | None = None
) -> go.Figure:
    probs = np.asarray(probs, dtype=np.float64)
    colors = [BAR] * len(probs)
    if probs.max() > 0:  # all zero: the empty chart shown before the first stroke
        colors[int(np.argmax(probs))] = HIGHLIGHT
    bar = {
        "type": "bar",
        "x": [str(d) for d in range(len(probs))],
        "y": np.round(probs, 4),
        "marker": {"color": colors},
        "text": [f"{p:.0%}" if p >= 0.01 else "" for p in probs],
        "textposition": "outside",
        "hovertemplate": f"{x_label} %{{x}}<br>{y_label} %{{y:.2%}}<extra></extra>",
    }
    layout = {
        "title": {"text": title, "font": {"size": 14}},
        "margin": MARGIN,
        "height": 260,
        "xaxis": {"title": {"text": x_label}, "type": "category"},
        "yaxis": {"title": {"text": y_label}, "range": [0, 1.15], "tickformat": ".0%"},
    }
    if true_label is not None:
        layout["annotations"] = [{"x": str(true_label), "y": 1.08, "text": "▼", "showarrow": False}]
    return _fast_figure([bar], layout)


def matrix(
    values: np.ndarray,
    *,
    title: str,
    labels: np.ndarray | None = None,
    highlight: Sequence[tuple[int, int]] = (),
    colorscale: str = "Blues",
    zmin: float | None = None,
    zmax: float | None = None,
    x_title: str | None = None,
    y_title: str | None = None,
    tick_labels: Sequence[str] | None = None,
    height: int | None = None,
    x_labels: Sequence[str] | None = None,
    y_labels: Sequence[str] | None = None,
) -> go.Figure:
    """An annotated heatmap of a small matrix (pooling input/output, kernels, confusion
    matrices), with chosen cells outlined. ``tick_labels`` names the rows and the columns
    of a square matrix; ``x_labels`` and ``y_labels`` name them separately."""
    x_labels = tick_labels if x_labels is None else x_labels
    y_labels = tick_labels if y_labels is None else y_labels
    values = np.asarray(values, dtype=np.float64)
    h, w = values.shape
    if labels is None:
        labels = np.vectorize(lambda v: f"{v:.4g}")(values) if values.size else values
    finite = values[np.isfinite(values)]
    fig = go.Figure(
        go.Heatmap(
            z=values,
            text=labels,
            texttemplate="%{text}",
            colorscale=colorscale,
            zmin=zmin if zmin is not None else (float(finite.min()) if finite.size else 0),
            zmax=zmax if zmax is not None else (float(finite.max()) if finite.size else 1),
            showscale=False,
            hovertemplate="(%{y}, %{x}): %{z:.4g}<extra></extra>",
            x=list(x_labels) if x_labels is not None else None,
            y=list(y_labels) if y_labels is not None else None,
        )
    )
    for i, j in highlight:
        fig.add_shape(
            type="rect",
            x0=j - 0.5,
            x1=j + 0.5,
            y0=i - 0.5,
            y1=i + 0.5,
            line={"color": HIGHLIGHT, "width": 4},
        )
    cell = 46 if max(h, w) <= 8 else 30
    fig.update_layout(
        title={"text": title, "font": {"size": 14}},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        height=height or 60 + cell * h,
        width=None,
        xaxis={"title": x_title, "side": "top" if x_title is None else "bottom", "dtick": 1},
        yaxis={"title": y_title, "autorange": "reversed", "dtick": 1},
    )
    if x_labels is None and y_labels is None:
        fig.update_xaxes(showticklabels=False)
        fig.update_yaxes(showticklabels=False, scaleanchor="x")
    return fig


def curves(
    epochs: Sequence[int],
    series: dict[str, Sequence[float]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    percent: bool = False,
) -> go.Figure:
    fig = curves_xy(
        {name: (epochs, values) for name, values in series.items()},
        title=title,
        x_label=x_label,
        y_label=y_label,
        percent=percent,
    )
    fig.update_xaxes(dtick=1 if len(epochs) <= 20 else None)
    return fig


def curves_xy(
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    percent: bool = False,
    markers: bool = True,
) -> go.Figure:
    """Line charts whose series each have their own x values (two training runs of
    different lengths on one chart); line styles differ too, not only colours."""
    fig = go.Figure()
    for i, (name, (xs, ys)) in enumerate(series.items()):
        fig.add_trace(
            go.Scatter(
                x=list(xs),
                y=list(ys),
                mode="lines+markers" if markers else "lines",
                name=name,
                line={"dash": ("solid", "dash", "dot", "dashdot")[i % 4]},
            )
        )
    fig.update_layout(
        title={"text": title, "font": {"size": 14}},
        margin=MARGIN,
        height=280,
        xaxis={"title": x_label},
        yaxis={"title": y_label, "tickformat": ".2%" if percent else None},
        legend={"orientation": "h", "y": -0.25},
    )
    return fig


def bars(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    x_label: str,
    y_label: str,
    highlight: Sequence[int] = (),
    muted: Sequence[int] = (),
    zoom: bool = False,
    percent: bool = True,
) -> go.Figure:
    """A bar chart of a few values (per-class accuracy, test errors), each labelled.
    ``highlight`` bars are orange, ``muted`` ones grey; ``zoom`` starts the value axis just
    below the smallest bar instead of at 0 (accuracies of 98–100% all look full otherwise)."""
    values = np.asarray(values, dtype=np.float64)
    colors = ["#56B4E9"] * len(values)  # Okabe-Ito sky blue
    for i in muted:
        colors[i] = "#999999"
    for i in highlight:
        colors[i] = HIGHLIGHT
    fmt = ".2%" if percent else ".4g"
    top = float(values.max()) if values.size else 1.0
    bottom = float(values.min()) if values.size else 0.0
    low = max(0.0, bottom - (top - bottom) * 0.5 - 0.002) if zoom else 0.0
    fig = go.Figure(
        go.Bar(
            x=list(labels),
            y=values,
            marker_color=colors,
            text=[format(v, fmt) for v in values],
            textposition="outside",
            cliponaxis=False,
            hovertemplate=f"%{{x}}<br>{y_label} %{{y:{fmt}}}<extra></extra>",
        )
    )
    fig.update_layout(
        title={"text": title, "font": {"size": 14}},
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        height=300,
        xaxis={"title": x_label, "type": "category"},
        yaxis={
            "title": y_label,
            "range": [low, top + (top - low) * 0.15 + 1e-9],
            "tickformat": ".1%" if percent else None,
        },
    )
    return fig


def confusion(
    counts: np.ndarray, *, title: str, x_label: str, y_label: str, count_label: str
) -> go.Figure:
    """A confusion matrix (rows: true class, columns: predicted) as an annotated heatmap.
    The colour follows log(1 + count), so that a handful of mistakes stays visible next to
    the diagonal's thousands; the numbers written in the cells are the counts."""
    counts = np.asarray(counts)
    n = counts.shape[0]
    ticks = [str(d) for d in range(n)]
    fig = go.Figure(
        go.Heatmap(
            z=np.log1p(counts.astype(np.float64)),
            x=ticks,
            y=ticks,
            text=[[str(int(v)) if v else "" for v in row] for row in counts],
            texttemplate="%{text}",
            textfont={"size": 11},
            customdata=counts,
            colorscale="Blues",
            showscale=False,
            hovertemplate=(
                f"{y_label} %{{y}} → {x_label} %{{x}}<br>{count_label} %{{customdata}}"
                "<extra></extra>"
            ),
            xgap=1,
            ygap=1,
        )
    )
    fig.update_layout(
        title={"text": title, "font": {"size": 14}},
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        height=60 + 40 * n,
        xaxis={"title": x_label, "type": "category", "side": "bottom", "constrain": "domain"},
        yaxis={"title": y_label, "type": "category", "autorange": "reversed", "scaleanchor": "x"},
        plot_bgcolor="rgba(0,0,0,0)",
    )
    return fig
