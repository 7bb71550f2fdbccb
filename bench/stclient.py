"""A light client of the app that speaks Streamlit's own websocket protocol
(``/_stcore/stream``: BackMsg out, ForwardMsg in, the protobufs of the installed streamlit),
so that many simulated students cost the machine little and a load measures the server.

A ``Student`` does what the draw page's browser does (read from a Chromium session's
frames): it asks for the first run (an empty ``rerun_script`` with the context info), learns
the page's script hash, the query string and the widgets' ids and defaults from the
deltas (the canvas is the ``bidi_component`` whose key is ``canvas_N``, in the fragment
named by its delta), and fetches the images (``/media/…``) each run shows. A stroke is a
fragment rerun carrying every widget's value and the canvas component's JSON state
``{"drawing": {"raw": fabric.js JSON, "data": PNG data URL}}``; the clear button is a
fragment rerun with its trigger set. The answer is the ``st.metric`` delta that carries
the predicted digit; the run ends with ``script_finished``.

What it does not do: render anything, run the component's JavaScript (its fabric.js
path uses straight segments where fabric.js smooths with quadratic curves: the server
keeps that JSON, it does not read it), send heartbeats, or keep a cache of messages.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import time
from urllib.parse import urlsplit

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ContextInfo
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

from lenet_testkit.digits import STROKES, render_strokes

CANVAS_PX = 280  # lenet.ui.draw_canvas's default size
STROKE_WIDTH = 20  # the draw page's slider default
CANVAS_KEY = re.compile(r"-canvas_\d+$")
RUN_TIMEOUT_S = 60.0


def canvas_state(digit: int, size: int = CANVAS_PX, width: int = STROKE_WIDTH) -> str:
    """The canvas component's state after ``digit`` (lenet_testkit.digits.STROKES) was drawn, as
    the browser sends it: fabric.js JSON of the paths and the canvas as a PNG data URL."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(render_strokes(STROKES[digit], size, width)).save(buf, format="PNG")
    objects = []
    for stroke in STROKES[digit]:
        pts = [(x * size, y * size) for x, y in stroke]
        path = [["M", *pts[0]], *(["L", *p] for p in pts[1:])]
        objects.append(
            {"type": "Path", "version": "7.4.0", "originX": "center", "originY": "center",
             "fill": None, "stroke": "#FFFFFF", "strokeWidth": width,
             "strokeLineCap": "round", "strokeLineJoin": "round", "path": path}
        )  # fmt: skip
    raw = {"version": "7.4.0", "objects": objects, "background": "#000000"}
    data = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    return json.dumps({"drawing": {"raw": raw, "data": data}})


def default_state(element) -> WidgetState | None:
    """The value the frontend reports for a widget it has just mounted (the kinds the
    app's pages show before any click); None for those it reports only when used."""
    kind = element.WhichOneof("type")
    w = getattr(element, kind, None)
    state = WidgetState(id=getattr(w, "id", ""))
    if kind in ("radio", "selectbox") and w.HasField("default") and w.options:
        state.string_value = w.options[w.default]
    elif kind == "button_group":
        state.string_array_value.data.extend(w.options[i].content for i in w.default)
    elif kind == "slider":
        state.double_array_value.data.extend(w.default)
    elif kind == "checkbox":
        state.bool_value = w.default
    else:
        return None
    return state


async def http_get(host: str, port: int, paths: list[str]) -> int:
    """GET each path over one keep-alive HTTP/1.1 connection, as a browser fetches a
    run's images; returns the number of bytes received. Raises on a status other than 200."""
    reader, writer = await asyncio.open_connection(host, port)
    got = 0
    try:
        for path in paths:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
            status = (await reader.readline()).split()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            got += len(await reader.readexactly(length))
            if status[1:2] != [b"200"]:
                raise RuntimeError(f"GET {path}: HTTP {b' '.join(status[1:]).decode()}")
    finally:
        writer.close()
    return got


class Student:
    """One visitor of the draw page over the websocket (see the module's docstring)."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        parts = urlsplit(self.url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.ws = None
        self.widgets: dict[str, WidgetState] = {}
        self.canvas_id = self.fragment_id = self.page_hash = None
        self.query = ""
        self.drawn = False
        self.sent: BackMsg | None = None
        self._run: dict | None = None  # the run in flight: what it showed, when
        self._reader: asyncio.Task | None = None

    async def open(self) -> dict:
        """Connect and load the page (its first run and its images)."""
        from websockets.asyncio.client import connect

        ws_url = "ws" + self.url[4:] + "/_stcore/stream"
        self.ws = await connect(ws_url, subprotocols=["streamlit"], origin=self.url, max_size=None)
        self._reader = asyncio.create_task(self._read())
        return await self._rerun(BackMsg(), first=True)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self.ws is not None:
            await self.ws.close()

    async def stroke(self, digit: int) -> dict:
        """Draw ``digit`` on the canvas: ``latency_s`` (sent -> prediction delta received),
        ``run_s`` (sent -> script_finished), ``value`` (the predicted digit shown)."""
        self.widgets[self.canvas_id] = WidgetState(
            id=self.canvas_id, json_value=STATES[digit] if digit in STATES else canvas_state(digit)
        )
        self.drawn = True
        return await self._rerun(self._fragment_msg())

    async def clear(self) -> dict:
        """Press the page's Clear button (a new, blank canvas)."""
        msg = self._fragment_msg()
        clear_id = next(k for k in self.widgets if k.endswith("-clear_canvas"))
        msg.rerun_script.widget_states.widgets.add(id=clear_id, trigger_value=True)
        self.drawn = False
        return await self._rerun(msg)

    def _fragment_msg(self) -> BackMsg:
        msg = BackMsg()
        rs = msg.rerun_script
        rs.query_string = self.query
        rs.widget_states.widgets.extend(
            w for w in self.widgets.values() if w.WhichOneof("value") is not None
        )
        rs.page_script_hash = self.page_hash or ""
        rs.fragment_id = self.fragment_id or ""
        return msg

    async def _rerun(self, msg: BackMsg, first: bool = False) -> dict:
        msg.rerun_script.context_info.CopyFrom(
            ContextInfo(timezone="UTC", timezone_offset=0, locale="en-US", url=self.url + "/",
                        is_embedded=False, color_scheme="light")
        )  # fmt: skip
        self.sent = msg  # the last message sent (tests compare it with a browser's)
        run = self._run = {"done": asyncio.Event(), "images": [], "value": None, "error": None}
        t0 = run["t0"] = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        await asyncio.wait_for(run["done"].wait(), RUN_TIMEOUT_S)
        run_s = time.perf_counter() - t0
        got = await http_get(self.host, self.port, run["images"]) if run["images"] else 0
        if run["error"]:
            raise RuntimeError(run["error"])
        latency = run["t_value"] - t0 if run["value"] is not None else None
        return {"latency_s": latency, "run_s": run_s, "value": run["value"], "image_bytes": got}

    async def _read(self) -> None:
        async for frame in self.ws:
            f = ForwardMsg()
            f.ParseFromString(frame)
            self._on(f)

    def _on(self, f: ForwardMsg) -> None:
        kind, run = f.WhichOneof("type"), self._run
        if kind == "page_info_changed":
            self.query = f.page_info_changed.query_string
        elif kind == "navigation":
            self.page_hash = f.navigation.page_script_hash or next(
                (p.page_script_hash for p in f.navigation.app_pages if p.is_default), None
            )
        elif kind == "delta" and f.delta.WhichOneof("type") == "new_element":
            self._on_element(f.delta.new_element, f.delta.fragment_id, run)
        elif kind == "script_finished" and run is not None:
            if f.script_finished > 3:  # stopped early, compile error, rerun requested
                run["error"] = run["error"] or f"script_finished {f.script_finished}"
            run["done"].set()

    def _on_element(self, el, fragment_id: str, run: dict | None) -> None:
        kind = el.WhichOneof("type")
        if kind == "bidi_component" and CANVAS_KEY.search(el.bidi_component.id):
            if self.canvas_id != el.bidi_component.id:  # a new canvas: the old one unmounts
                self.widgets.pop(self.canvas_id, None)
                self.canvas_id = el.bidi_component.id
                self.widgets[self.canvas_id] = WidgetState(id=self.canvas_id)
            self.fragment_id = fragment_id
        elif kind == "button":
            self.widgets.setdefault(el.button.id, WidgetState(id=el.button.id))
        elif (state := default_state(el)) is not None:
            self.widgets.setdefault(state.id, state)
        if run is None:
            return
        if kind == "metric" and el.metric.body.isdigit() and run["value"] is None:
            run["value"], run["t_value"] = el.metric.body, time.perf_counter()
        elif kind == "imgs":
            run["images"] += [im.url for im in el.imgs.imgs if im.url.startswith("/")]
        elif kind == "exception":
            run["error"] = f"exception shown: {el.exception.message[:200]}"


STATES: dict[int, str] = {}  # canvas_state per digit, built once by prepare()


def prepare(digits) -> None:
    """Build the canvas states of ``digits`` before timing anything."""
    for d in digits:
        STATES.setdefault(d, canvas_state(d))
