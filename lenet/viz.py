"""Plotly figures built from numpy arrays (no Streamlit here; every text is passed in,
already translated, so this module is language-free and unit-testable)."""

from __future__ import annotations

import functools
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
TITLE_LINE = 48  # characters: a chart title longer than this is wrapped (a 390 px phone)


def chart_title(text: str) -> dict:
    """A chart's title, wrapped at spaces into lines of at most TITLE_LINE characters:
    Plotly never wraps a title, and on a phone the screen's edge cut long ones off
    (fit_title makes room for the lines)."""
    import textwrap

    lines = textwrap.wrap(text, TITLE_LINE, break_long_words=False) or [text]
    return {"text": "<br>".join(lines), "font": {"size": 14}}


TITLE_LINE_PX = 19  # the height of a line of a 14 px title


def fit_title(figure):
    """``figure``, or a copy of it with room above the plot for each line of its title after
    the first (chart_title wraps long titles): Plotly centres a title in the top margin,
    so a second line would rise past the chart's top edge. The margin and the figure's
    height grow by a line each."""
    import plotly.graph_objects as go

    extra = (figure.layout.title.text or "").count("<br>") * TITLE_LINE_PX
    if not extra:
        return figure
    fitted = go.Figure(figure)
    top = fitted.layout.margin.t if fitted.layout.margin.t is not None else 100  # Plotly's
    fitted.update_layout(margin={"t": top + extra})
    if fitted.layout.height is not None:
        fitted.update_layout(height=fitted.layout.height + extra)
    return fitted


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
        "title": chart_title(title),
        "margin": MARGIN,
        "height": height or int(120 + 260 * tiled.shape[0] / tiled.shape[1] * 2.2),
        "xaxis": {"visible": False, "constrain": "domain"},
        "yaxis": {"visible": False, "autorange": "reversed", "scaleanchor": "x"},
        "plot_bgcolor": "rgba(0,0,0,0)",
    }
    return _fast_figure([heatmap, numbers], layout)


@functools.cache
def _lut(colorscale: str) -> np.ndarray:
    """A plotly colour scale as a (256, 3) uint8 lookup table."""
    colors = plotly.colors.sample_colorscale(colorscale, list(np.linspace(0, 1, 256)))
    rgb = plotly.colors.convert_colors_to_same_type(colors, colortype="tuple")[0]
    return np.round(np.array(rgb, dtype=np.float64) * 255).astype(np.uint8)


def maps_png(
    maps: np.ndarray,
    *,
    cols: int,
    scale: int = 4,
    colorscale: str = SEQUENTIAL,
    symmetric: bool = False,
    gap_color: tuple[int, int, int] = (255, 255, 255),
) -> bytes:
    """Feature maps (C, H, W) as ONE small PNG image: a grid of ``cols`` maps a row, read
    left to right and top to bottom, on one shared colour scale (``symmetric``: centred on
    0), each pixel enlarged to ``scale`` x ``scale``. A few kilobytes where a heatmap per
    map would send tens; name the maps in the caption."""
    import io

    from PIL import Image

    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 3 or maps.size == 0 or cols < 1 or not 1 <= scale <= 16:
        raise ValueError(f"expected maps (C, H, W), cols >= 1, scale 1..16; got {maps.shape}")
    tiled, where = mosaic(np.nan_to_num(maps), cols)
    if symmetric:
        bound = float(np.abs(maps).max()) or 1.0
        low, span = -bound, 2 * bound
    else:
        low = float(maps.min())
        span = float(maps.max()) - low or 1.0
    index = np.clip(np.nan_to_num((tiled - low) / span) * 255, 0, 255).astype(np.uint8)
    rgb = _lut(colorscale)[index]
    rgb[where < 0] = gap_color
    rgb = np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)
    buffer = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def fold(values: np.ndarray, cols: int) -> np.ndarray:
    """A 1-D activation (C5's 120 or F6's 84 values) folded into rows of ``cols``, NaN after
    the last value."""
    values = np.asarray(values, dtype=np.float32).ravel()
    rows = math.ceil(len(values) / cols)
    grid = np.full(rows * cols, np.nan, dtype=np.float32)
    grid[: len(values)] = values
    return grid.reshape(rows, cols)


def vector(values: np.ndarray, *, cols: int, title: str, value_label: str) -> go.Figure:
    """A 1-D activation (C5's 120 or F6's 84 values) folded into a small grid."""
    grid = fold(values, cols)
    rows = grid.shape[0]
    heatmap = {
        "type": "heatmap",
        "z": np.round(grid, 3),
        "customdata": np.arange(rows * cols, dtype=np.int16).reshape(rows, cols),
        "colorscale": _colorscale(DIVERGING),
        "zmid": 0,
        "hovertemplate": f"#%{{customdata}}<br>{value_label} %{{z:.3f}}<extra></extra>",
        "hoverongaps": False,
        "colorbar": {"thickness": 10},
    }
    layout = {
        "title": chart_title(title),
        "margin": MARGIN,
        "height": 80 + 28 * rows,
        "xaxis": {"visible": False},
        "yaxis": {"visible": False, "autorange": "reversed"},
    }
    return _fast_figure([heatmap], layout)


# The draw page shows every layer as one small PNG (a few KB, drawn by the browser as an
# image: a plotly heatmap per layer cost the page ~60 ms of main-thread time each and
# tens of KB over the websocket), and one chosen map as a heatmap whose values can be read.
VECTOR_COLS = 12
_IMAGE_SCALE = {"kernels": 14, "c1": 4, "c3": 7, "s2": 5, "s4": 12, "c5": 14, "f6": 14}


def layer_image(
    name: str, activations: dict[str, np.ndarray], kernels: np.ndarray, signed: bool = False
) -> bytes:
    """One of LAYER_FIGURES as a PNG: maps on a shared colour scale (cividis for
    activations; the diverging scale, centred on 0, for kernels and C5/F6's values, and for
    every map when ``signed``: weighted sums before the squashing function)."""
    if name not in LAYER_FIGURES:
        raise ValueError(f"unknown layer figure {name!r}; choose one of {', '.join(LAYER_FIGURES)}")
    scale = _IMAGE_SCALE[name]
    if name == "kernels":
        return maps_png(kernels, cols=3, scale=scale, colorscale=DIVERGING, symmetric=True)
    if name in _MAP_COLS:
        colours = {"colorscale": DIVERGING, "symmetric": True} if signed else {}
        return maps_png(activations[name], cols=_MAP_COLS[name], scale=scale, **colours)
    grid = fold(activations[name], VECTOR_COLS)
    return maps_png(grid[None], cols=1, scale=scale, colorscale=DIVERGING, symmetric=True)


def layer_maps(name: str, activations: dict[str, np.ndarray], kernels: np.ndarray) -> np.ndarray:
    """The maps (C, H, W) a layer image shows: a vector layer is one folded map."""
    if name == "kernels":
        return np.asarray(kernels)
    if name in _MAP_COLS:
        return np.asarray(activations[name])
    return fold(activations[name], VECTOR_COLS)[None]


# The paper prints its output bitmaps as black ink (+1) on white (-1).
BITMAP_SCALE = "Greys"


def bitmaps_png(bitmaps: np.ndarray, scale: int = 8) -> bytes:
    """Pictures (K, H, W) of +-1 values (the paper's 7x12 output bitmaps, or F6's 84 values
    read as one) side by side in ONE image: +1 black, -1 white, one shared scale centred
    on 0, grey gaps between them."""
    bitmaps = np.asarray(bitmaps, dtype=np.float32)
    return maps_png(
        bitmaps, cols=len(bitmaps), scale=scale, colorscale=BITMAP_SCALE, symmetric=True,
        gap_color=(160, 160, 160),
    )  # fmt: skip


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
            kernels,
            cols=2,
            title=text("draw.kernels_title"),
            colorscale=DIVERGING,
            symmetric=True,
            map_label=text("draw.kernel"),
            value_label=text("draw.weight"),
            height=420,
        )
    title, value_label = text(f"draw.{name}_title"), text("draw.value")
    if name in _MAP_COLS:
        return feature_maps(
            activations[name],
            cols=_MAP_COLS[name],
            title=title,
            map_label=text("draw.map"),
            value_label=value_label,
        )
    return vector(activations[name], cols=12, title=title, value_label=value_label)


def probabilities(
    probs: Sequence[float],
    *,
    title: str,
    x_label: str,
    y_label: str,
    true_label: int | None = None,
    predicted_label: str | None = None,
) -> go.Figure:
    """The softmax bars; the predicted digit's bar is orange and hatched, and with
    ``predicted_label`` also named in text (no information by colour alone)."""
    probs = np.asarray(probs, dtype=np.float64)
    colors, hatch = [BAR] * len(probs), [""] * len(probs)
    top = int(np.argmax(probs)) if probs.max() > 0 else None  # all zero: before the first stroke
    if top is not None:
        colors[top], hatch[top] = HIGHLIGHT, "/"
    bar = {
        "type": "bar",
        "x": [str(d) for d in range(len(probs))],
        "y": np.round(probs, 4),
        "marker": {"color": colors, "pattern": {"shape": hatch}},
        "text": [f"{p:.0%}" if p >= 0.01 else "" for p in probs],
        "textposition": "outside",
        "hovertemplate": f"{x_label} %{{x}}<br>{y_label} %{{y:.2%}}<extra></extra>",
    }
    layout = {
        "title": chart_title(title),
        "margin": MARGIN,
        "height": 260,
        "xaxis": {"title": {"text": x_label}, "type": "category"},
        "yaxis": {"title": {"text": y_label}, "range": [0, 1.15], "tickformat": ".0%"},
    }
    if true_label is not None:
        layout["annotations"] = [{"x": str(true_label), "y": 1.08, "text": "▼", "showarrow": False}]
    if top is not None and predicted_label:  # named under its bar, on the digit axis
        ticks = [str(d) for d in range(len(probs))]
        ticks[top] = f"<b>{top}</b><br>{predicted_label}"
        layout["xaxis"] |= {"tickmode": "array", "tickvals": bar["x"], "ticktext": ticks}
    return _fast_figure([bar], layout)


def _hatch(draw, box: tuple[float, float, float, float], gap: float, width: int) -> None:
    """Diagonal lines (x + y = c) inside ``box`` (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    c = x0 + y0 + gap
    while c < x1 + y1:
        xa, xb = max(x0, c - y1), min(x1, c - y0)
        if xa < xb:
            draw.line([(xa, c - xa), (xb, c - xb)], fill="#6B4700", width=width)
        c += gap


def probabilities_png(probs: Sequence[float], true_label: int | None = None) -> bytes:
    """The ten probabilities as a small bar chart image (the draw page redraws it with every
    stroke: an image costs the browser a fraction of a plotly chart). The predicted digit's
    bar is orange and hatched; a person's label, when known, is marked by a triangle above
    its bar. The caption states the answer in words (``lenet.describe.prediction``)."""
    import io

    from PIL import Image, ImageDraw, ImageFont

    probs = np.asarray(probs, dtype=np.float64).ravel()
    if probs.shape != (10,) or not np.all(np.isfinite(probs)):
        raise ValueError(f"expected 10 finite probabilities, got {probs.shape}")
    k = 1  # drawn at the size shown: Streamlit scales a wider image down to its width anyway
    w, h, left, top, bottom, bar_w = 440 * k, 200 * k, 40 * k, 34 * k, 24 * k, 28 * k
    image = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=12 * k)
    plot_h = h - top - bottom
    for level in (0.0, 0.5, 1.0):
        y = top + plot_h * (1 - level)
        draw.line([(left, y), (w - 4 * k, y)], fill="#DDDDDD", width=k)
        draw.text((left - 6 * k, y), f"{level:.0%}", fill="#444444", font=font, anchor="rm")
    step = (w - left) / 10
    winner = int(np.argmax(probs)) if probs.max() > 0 else None
    for d, p in enumerate(probs):
        cx = left + step * (d + 0.5)
        y = top + plot_h * (1 - min(max(p, 0.0), 1.0))
        color = HIGHLIGHT if d == winner else BAR
        if p > 0:
            draw.rectangle([cx - bar_w / 2, y, cx + bar_w / 2, top + plot_h], fill=color)
        if d == winner and p > 0:  # hatched as well as orange: not marked by colour alone
            _hatch(draw, (cx - bar_w / 2, y, cx + bar_w / 2, top + plot_h), 6 * k, k)
        if p >= 0.01:
            draw.text((cx, y - 3 * k), f"{p:.0%}", fill="#222222", font=font, anchor="md")
        draw.text((cx, h - bottom + 5 * k), str(d), fill="#222222", font=font, anchor="mt")
        if d == true_label:
            draw.polygon([(cx - 6 * k, 2 * k), (cx + 6 * k, 2 * k), (cx, 12 * k)], fill="#222222")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# Lines told apart by dash and marker as well as colour (Okabe-Ito blue, orange, green).
LINE_STYLES = (
    ("#0072B2", "solid", "circle"),
    ("#E69F00", "dash", "square"),
    ("#009E73", "dot", "diamond"),
)


def _kept_bar(
    low: float, high: float, label: str, y: float, color: str, dash: str
) -> tuple[dict, dict]:
    """sweep_lines' mark of a kept range: a bar from low to high at height y, in the
    network's colour and dash, and its label above the middle of it."""
    bar = {
        "type": "scatter",
        "x": [low, high],
        "y": [y, y],
        "mode": "lines+markers",
        "line": {"color": color, "width": 5, "dash": dash},
        "marker": {"symbol": "line-ns-open", "size": 12, "color": color},
        "showlegend": False,
        "hoverinfo": "skip",
    }
    annotation = {
        "x": (low + high) / 2,
        "y": y,
        "text": label,
        "showarrow": False,
        "bgcolor": "rgba(255,255,255,0.85)",
        "font": {"size": 11},
    }
    return bar, annotation


def sweep_lines(
    x: Sequence[float],
    series: dict[str, Sequence[float]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    hover: dict[str, Sequence[str]] | None = None,
    kept: dict[str, tuple[float, float, str]] | None = None,
) -> go.Figure:
    """Values in [0, 1] (probabilities, accuracies) across a sweep, one line per network.
    ``hover`` adds a text per point (e.g. the winning digit); ``kept`` marks, per network,
    a range (low, high, label) as a labelled bar above the plot, in the line's dash."""
    data, labels, kept = [], [], kept or {}
    for k, (name, values) in enumerate(series.items()):
        color, dash, symbol = LINE_STYLES[k % len(LINE_STYLES)]
        text = list(hover[name]) if hover and name in hover else None
        data.append(
            {
                "type": "scatter",
                "x": list(x),
                "y": np.round(np.asarray(values, float), 4),
                "name": name,
                "mode": "lines+markers",
                "text": text,
                "line": {"color": color, "dash": dash, "width": 2},
                "marker": {"symbol": symbol, "size": 6, "color": color},
                "hovertemplate": f"{name}<br>{x_label} %{{x}}<br>{y_label} %{{y:.1%}}"
                + ("<br>%{text}" if text else "")
                + "<extra></extra>",
            }
        )
        if name in kept:
            bar, annotation = _kept_bar(*kept[name], 1.08 + 0.1 * len(labels), color, dash)
            data.append(bar)
            labels.append(annotation)
    layout = {
        "title": chart_title(title),
        "margin": {"l": 10, "r": 10, "t": 50, "b": 10},
        "height": 340 + 30 * len(labels),
        "xaxis": {"title": {"text": x_label}},
        "yaxis": {
            "title": {"text": y_label},
            "range": [0, 1.06 + 0.1 * len(labels)],
            "tickformat": ".0%",
            "tickvals": [0, 0.25, 0.5, 0.75, 1],
        },
        "annotations": labels,
        "legend": {"orientation": "h", "y": -0.2},
    }
    return _fast_figure(data, layout)


def _matrix_heatmap(values, labels, colorscale, zmin, zmax, x_labels, y_labels) -> go.Heatmap:
    """matrix's heatmap trace: the cells' colours span the finite values unless zmin and
    zmax are given."""
    finite = values[np.isfinite(values)]
    return go.Heatmap(
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


def _outline_cells(fig: go.Figure, highlight: Sequence[tuple[int, int]]) -> None:
    """Outline the chosen cells (row, column) of matrix's heatmap. The outline is orange
    dots on black: it stands out on light and dark cells alike, and by its shape, not only
    its colour."""
    for i, j in highlight:
        for line in (
            {"color": "black", "width": 6},
            {"color": HIGHLIGHT, "width": 3, "dash": "dot"},
        ):
            fig.add_shape(type="rect", x0=j - 0.5, x1=j + 0.5, y0=i - 0.5, y1=i + 0.5, line=line)


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
    fig = go.Figure(_matrix_heatmap(values, labels, colorscale, zmin, zmax, x_labels, y_labels))
    _outline_cells(fig, highlight)
    cell = 46 if max(h, w) <= 8 else 30
    fig.update_layout(
        title=chart_title(title),
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


# A lab's small matrix as a markdown table: its numbers are text (read aloud, copied, never
# hidden behind a hover). Measured in Chromium (issue 14), ten 6x6 matrices redrawn cost the
# browser's main thread ~530 ms as plotly heatmaps, ~300-440 ms as st.table and ~80 ms as
# markdown tables. The chosen cells are written in bold between brackets, on an orange
# background: marked by shape and weight, not by colour alone.


def _cell_text(label) -> str:
    """A label as one markdown table cell: plotly's line break becomes a space, a pipe is
    escaped."""
    return str(label).replace("<br>", " ").replace("|", "\\|").strip()


def mark_cell(text: str) -> str:
    """How matrix_markdown marks a chosen cell."""
    return f":orange-background[**[{text}]**]"


def matrix_markdown(
    values: np.ndarray,
    *,
    labels: np.ndarray | None = None,
    highlight: Sequence[tuple[int, int]] = (),
) -> str:
    """A 2-D matrix as a markdown table: rows and columns numbered from 0, each cell its
    label (default: the value to 4 significant digits, as viz.matrix writes it), the
    ``highlight``ed cells (row, col) marked with mark_cell."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.size == 0:
        raise ValueError(f"expected a non-empty 2-D matrix, got shape {values.shape}")
    h, w = values.shape
    if labels is None:
        labels = np.vectorize(lambda v: f"{v:.4g}", otypes=[object])(values)
    cells = [[_cell_text(labels[i][j]) for j in range(w)] for i in range(h)]
    for i, j in highlight:
        if 0 <= i < h and 0 <= j < w:
            cells[i][j] = mark_cell(cells[i][j])
    lines = ["| | " + " | ".join(map(str, range(w))) + " |", "|---:" * (w + 1) + "|"]
    lines += [f"| **{i}** | " + " | ".join(row) + " |" for i, row in enumerate(cells)]
    return "\n".join(lines)


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
        title=chart_title(title),
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
    ``highlight`` bars are orange and hatched, ``muted`` ones grey; ``zoom`` starts the value
    axis just below the smallest bar instead of at 0 (98–100% accuracies all look full)."""
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
            marker_pattern_shape=["/" if i in highlight else "" for i in range(len(values))],
            text=[format(v, fmt) for v in values],
            textposition="outside",
            cliponaxis=False,
            hovertemplate=f"%{{x}}<br>{y_label} %{{y:{fmt}}}<extra></extra>",
        )
    )
    fig.update_layout(
        title=chart_title(title),
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
        title=chart_title(title),
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        height=60 + 40 * n,
        xaxis={"title": x_label, "type": "category", "side": "bottom", "constrain": "domain"},
        yaxis={"title": y_label, "type": "category", "autorange": "reversed", "scaleanchor": "x"},
        plot_bgcolor="rgba(0,0,0,0)",
    )
    return fig


# ----------------------------------------------------------------------------- why this digit?


def _diverging_lut() -> np.ndarray:
    """DIVERGING sampled at 256 levels as RGB, (256, 3) uint8: -bound ... 0 ... +bound."""
    colours = plotly.colors.sample_colorscale(_colorscale(DIVERGING), np.linspace(0, 1, 256))
    rgb = [plotly.colors.unlabel_rgb(c) for c in colours]
    return np.clip(np.round(np.array(rgb)), 0, 255).astype(np.uint8)


DIVERGING_RGB = _diverging_lut()


def signed_image(
    values: np.ndarray,
    digit: np.ndarray | None = None,
    *,
    bound: float | None = None,
    size: int = 168,
) -> np.ndarray:
    """A signed map (H, W) as a small RGB image (uint8, about ``size`` pixels wide) on the
    DIVERGING scale: blue below 0, red above, white at 0, full colour at ±``bound``
    (default: the largest magnitude). With ``digit`` (uint8, same shape), the colour is laid
    over the digit, whose ink darkens it, so the map reads "over the digit"."""
    values = np.asarray(values, dtype=np.float32)
    bound = float(bound or np.abs(values).max() or 1.0)
    level = np.clip(np.round((values / bound + 1) * 127.5), 0, 255).astype(np.uint8)
    rgb = DIVERGING_RGB[level].astype(np.float32)
    if digit is not None:
        ink = np.asarray(digit, dtype=np.float32)[..., None] / 255.0
        strength = np.clip(np.abs(values) / bound, 0, 1)[..., None]
        grey = 255.0 - 90.0 * ink  # the digit, light grey on white, under weak colour
        rgb = (grey * (1 - strength) + rgb * strength) * (1 - 0.35 * ink)
    factor = max(1, size // max(values.shape))
    rgb = np.round(rgb).astype(np.uint8)
    return rgb.repeat(factor, axis=0).repeat(factor, axis=1)


def _changed_places(centres, changed, answers, changed_label: str, answer_label: str) -> list:
    """An orange outline (a contour at 0.5 of the 0/1 map) around the places where the
    answer changes, and a cross on each, with the new answer in the hover text."""
    if not np.any(changed):
        return []
    rows, cols = np.nonzero(changed)
    outline = {
        "type": "contour",
        "x": centres,
        "y": centres,
        "z": np.asarray(changed, dtype=np.int8),
        "showscale": False,
        "contours": {"start": 0.5, "end": 0.5, "coloring": "none"},
        "line": {"color": HIGHLIGHT, "width": 3},
        "hoverinfo": "skip",
        "showlegend": False,
    }
    crosses = {
        "type": "scatter",
        "mode": "markers",
        "name": changed_label,
        "showlegend": True,
        "x": centres[cols],
        "y": centres[rows],
        "customdata": np.asarray(answers)[rows, cols].astype(np.int8),
        "marker": {
            "symbol": "x",
            "size": 7,
            "color": HIGHLIGHT,
            "line": {"color": "black", "width": 1},
        },
        "hovertemplate": f"(%{{y}}, %{{x}})<br>{answer_label} %{{customdata}}<extra></extra>",
    }
    return [outline, crosses]


def occlusion_map(
    probabilities: np.ndarray,
    changed: np.ndarray,
    answers: np.ndarray,
    *,
    patch: int,
    stride: int,
    title: str,
    value_label: str,
    changed_label: str,
    answer_label: str,
) -> go.Figure:
    """An occlusion map: the probability of a class with the blank patch at each place
    (a cell per position, placed at the patch's centre in the digit's pixel coordinates),
    and the places where covering the digit changes the answer outlined and marked with a
    cross (legend: ``changed_label``; hover: the answer there)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    n = probabilities.shape[0]
    centres = np.arange(n) * stride + (patch - 1) / 2
    heatmap = {
        "type": "heatmap",
        "x": centres,
        "y": centres,
        "z": np.round(probabilities, 3),
        "zmin": 0.0,
        "zmax": 1.0,
        "colorscale": _colorscale(SEQUENTIAL),
        "customdata": np.asarray(answers, dtype=np.int8),
        "hovertemplate": f"(%{{y}}, %{{x}})<br>{value_label} %{{z:.1%}}<br>{answer_label} "
        "%{customdata}<extra></extra>",
        "colorbar": {"thickness": 10, "tickformat": ".0%"},
    }
    data = [heatmap, *_changed_places(centres, changed, answers, changed_label, answer_label)]
    layout = {
        "title": chart_title(title),
        "margin": {**MARGIN, "b": 30},
        "height": 380,
        "xaxis": {"range": [-0.5, 27.5], "constrain": "domain", "showgrid": False},
        "yaxis": {"range": [27.5, -0.5], "scaleanchor": "x", "showgrid": False},
        "legend": {"orientation": "h", "y": -0.08},
        "plot_bgcolor": "rgba(0,0,0,0)",
    }
    return _fast_figure(data, layout)


def probability_path(
    probabilities: np.ndarray,
    *,
    original: int,
    target: int,
    title: str,
    x_label: str,
    y_label: str,
) -> go.Figure:
    """The ten probabilities after each step of an attack, (steps + 1, 10): the original
    answer and the target drawn thick (solid and dashed), the other eight thin and grey;
    every line is labelled with its digit at its end, so no line is told by colour alone."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    steps = np.arange(len(probabilities))
    data = []
    for d in range(probabilities.shape[1]):
        style = {"color": "#BBBBBB", "width": 1}
        if d == original:
            style = {"color": BAR, "width": 3}
        elif d == target:
            style = {"color": HIGHLIGHT, "width": 3, "dash": "dash"}
        data.append(
            {
                "type": "scatter",
                "x": steps,
                "y": np.round(probabilities[:, d], 4),
                "mode": "lines+text",
                "name": str(d),
                "line": style,
                "text": [""] * (len(steps) - 1) + [str(d)],
                "textposition": "middle right",
                "hovertemplate": f"{d}: %{{y:.1%}}<extra></extra>",
                "showlegend": False,
            }
        )
    layout = {
        "title": chart_title(title),
        "margin": {**MARGIN, "b": 40},
        "height": 300,
        "xaxis": {"title": {"text": x_label}, "range": [-0.2, max(1, len(steps) - 1) * 1.08]},
        "yaxis": {"title": {"text": y_label}, "range": [0, 1.05], "tickformat": ".0%"},
    }
    if len(steps) <= 20:
        layout["xaxis"]["dtick"] = 1
    return _fast_figure(data, layout)


# ----------------------------------------------------------------------------- reading


def ink_png(ink: np.ndarray, max_width: int = 640) -> tuple[str, float]:
    """An ink map (uint8 0..255 or float 0..1) as a small PNG data URI for a figure's
    background, and the factor from the PNG's pixels to the ink map's."""
    import base64
    import io

    from PIL import Image

    full = 255.0 if ink.dtype == np.uint8 else 1.0
    u8 = np.clip(np.asarray(ink, np.float32) * (255.0 / full), 0, 255).astype(np.uint8)
    h, w = u8.shape
    factor = max(1.0, w / max_width)
    image = Image.fromarray(u8).resize(
        (max(1, round(w / factor)), max(1, round(h / factor))), Image.Resampling.BOX
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode(), factor


def _reading_traces(
    ink: np.ndarray, positions: np.ndarray, probabilities: np.ndarray, text: Callable[..., str]
) -> list[dict]:
    """reading_figure's traces: the writing as a small PNG (top) and the sliding view, the
    ten outputs of the network against position (bottom)."""
    source, factor = ink_png(ink)
    return [
        {
            "type": "image",
            "source": source,
            "x0": 0,
            "y0": 0,
            "dx": factor,
            "dy": factor,
            "xaxis": "x",
            "yaxis": "y",
            "hoverinfo": "skip",
        },
        {
            "type": "heatmap",
            "x": np.round(positions, 1),
            "y": list(range(10)),
            "z": np.round(np.asarray(probabilities).T, 3),
            "xaxis": "x",
            "yaxis": "y2",
            "colorscale": _colorscale(SEQUENTIAL),
            "zmin": 0,
            "zmax": 1,
            "colorbar": {"len": 0.4, "y": 0.2, "thickness": 10},
            "hovertemplate": f"{text('read_number.position')} %{{x:.0f}}<br>"
            f"{text('read_number.digit')} %{{y}}<br>{text('read_number.probability')} "
            "%{z:.1%}<extra></extra>",
        },
    ]


def _reading_marks(reading) -> tuple[list[dict], list[dict]]:
    """reading_figure's shapes and annotations: per digit read, a box on the writing
    (dashed when unsure), dotted lines at its edges across the sliding view, and a label
    with its digit ("?" when unsure) and confidence."""
    shapes, annotations = [], []
    for (x0, y0, x1, y1), digit, confidence, unsure in zip(
        reading.boxes, reading.digits, reading.confidences, reading.unsure, strict=True
    ):
        dash = "dash" if unsure else "solid"
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "y",
                "x0": x0,
                "x1": x1,
                "y0": y0,
                "y1": y1,
                "line": {"color": HIGHLIGHT, "width": 2, "dash": dash},
            }
        )
        for x in (x0, x1):
            shapes.append(
                {
                    "type": "line",
                    "xref": "x",
                    "yref": "y2",
                    "x0": x,
                    "x1": x,
                    "y0": -0.5,
                    "y1": 9.5,
                    "line": {"color": HIGHLIGHT, "width": 1, "dash": "dot"},
                }
            )
        label = f"{digit}{'?' if unsure else ''} {confidence:.0%}"
        annotations.append(
            {
                "x": (x0 + x1) / 2,
                "y": y0,
                "xref": "x",
                "yref": "y",
                "text": label,
                "showarrow": False,
                "yanchor": "bottom",
                "font": {"color": HIGHLIGHT, "size": 13},
            }
        )
    return shapes, annotations


def reading_figure(
    ink: np.ndarray,
    reading,
    positions: np.ndarray,
    probabilities: np.ndarray,
    text: Callable[..., str],
) -> go.Figure:
    """The writing with a box and a label per digit read (unsure ones dashed and marked
    "?"), and below it, on the same horizontal axis, the sliding view: the ten outputs of
    the network against position. ``reading`` is a lenet.reading.Reading; ``text``
    translates the read_number catalogue's keys."""
    h, w = ink.shape
    data = _reading_traces(ink, positions, probabilities, text)
    shapes, annotations = _reading_marks(reading)
    layout = {
        "title": chart_title(text("read_number.figure_title")),
        "margin": MARGIN,
        "height": 420,
        "xaxis": {"range": [0, w], "title": {"text": text("read_number.position")}, "anchor": "y2"},
        "yaxis": {"domain": [0.5, 1], "range": [h, 0], "showticklabels": False, "showgrid": False},
        "yaxis2": {"domain": [0, 0.42], "title": {"text": text("read_number.digit")}, "dtick": 1},
        "shapes": shapes,
        "annotations": annotations,
    }
    return _fast_figure(data, layout)


def _candidate_traces(candidate, x0: float, x1: float, win: bool, text: Callable[..., str]):
    """segmentation_graph's two traces for one candidate: its arc from gap x0 to gap x1
    (as high as the pieces it spans; thick and solid when on the winning path, thin and
    dotted otherwise) and its label, digit and score, at the top of the arc."""
    c = candidate
    height = c.pieces
    xs = np.linspace(x0, x1, 9)
    ys = height * np.sin(np.linspace(0, np.pi, 9))
    hover = text(
        "read_number.graph_hover",
        digit=c.digit,
        confidence=c.confidence,
        score=c.score,
        pieces=c.pieces,
    )
    arc = {
        "type": "scatter",
        "x": np.round(xs, 1),
        "y": np.round(ys, 3),
        "mode": "lines",
        "line": {
            "color": HIGHLIGHT if win else "#888888",
            "width": 4 if win else 1,
            "dash": "solid" if win else "dot",
        },
        "hovertemplate": hover + "<extra></extra>",
        "showlegend": False,
    }
    label = {
        "type": "scatter",
        "x": [xs[4]],
        "y": [ys[4]],
        "mode": "text",
        "text": [f"{c.digit} {c.score:.2f}"],
        "textposition": "top center",
        "textfont": {"size": 11 if win else 9},
        "hoverinfo": "skip",
        "showlegend": False,
    }
    return arc, label


def segmentation_graph(reading, text: Callable[..., str]) -> go.Figure:
    """The candidate graph: nodes are the cuts between pieces, one per cut shape tried
    (at their position in the writing), each candidate an arc from its first node to its
    last labelled with its digit and score; the winning path is drawn thick and solid,
    the others thin and dotted."""
    nodes = reading.nodes
    data, chosen = [], set(reading.path)
    for i, c in enumerate(reading.candidates):
        data.extend(_candidate_traces(c, nodes[c.start], nodes[c.stop], i in chosen, text))
    data.append(
        {
            "type": "scatter",
            "x": nodes,
            "y": [0] * len(nodes),
            "mode": "markers",
            "marker": {
                "size": 8,
                "color": "#444444",
                "symbol": "line-ns-open",
                "line": {"width": 2},
            },
            "hoverinfo": "skip",
            "showlegend": False,
        }
    )
    layout = {
        "title": chart_title(text("read_number.graph_title")),
        "margin": MARGIN,
        "height": 260,
        "xaxis": {"title": {"text": text("read_number.position")}},
        "yaxis": {"visible": False, "range": [-0.2, 3.6]},
    }
    return _fast_figure(data, layout)
