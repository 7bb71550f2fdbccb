"""bench/capacity.py's knee and sizing, and its websocket client (bench/stclient.py)
against a real server: the answers must show the digits drawn, and what it sends for a
stroke must be what Chromium sends for the same stroke."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import time

import numpy as np
import pytest
from PIL import Image

from bench import capacity
from bench.common import Server
from bench.stclient import Student, canvas_state
from lenet_testkit.digits import STROKES


def step(rate, p95):
    return {"rate": rate, "p95_s": p95}


def test_knee_is_where_the_p95_passes_the_target():
    steps = [step(2, 0.1), step(4, 0.5), step(6, 1.0), step(8, 2.0), step(10, 5.0)]
    assert capacity.knee(steps, 1.5) == pytest.approx(7.0)  # halfway from 1.0 s to 2.0 s
    assert capacity.knee(steps, 0.75) == pytest.approx(5.0)
    assert capacity.knee(steps[:3], 1.5) is None  # never passed: the knee is beyond the ramp
    assert capacity.knee(steps, 0.05) == 0.0  # the first step already missed


def test_sizing_rounds_replicas_up():
    rows = capacity.sizing(per_replica=10.0, student_rate=0.12)
    assert [r["students"] for r in rows] == list(capacity.CLASS_SIZES)
    for r in rows:
        assert r["strokes_s"] == pytest.approx(r["students"] * 0.12)
        assert r["replicas"] * 10.0 >= r["strokes_s"]  # enough replicas
        assert r["replicas"] == 1 or (r["replicas"] - 1) * 10.0 < r["strokes_s"]  # no more


def test_server_cpu_counts_this_process():
    before, t0 = capacity.server_cpu_s(os.getpid()), os.times()
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    spent = (os.times().user - t0.user) + (os.times().system - t0.system)
    assert capacity.server_cpu_s(os.getpid()) - before == pytest.approx(spent, abs=0.05)


def test_core_times_count_work_on_that_core():
    core = sorted(os.sched_getaffinity(0))[-1]
    cores = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    try:
        (b0, t0), cpu0 = capacity.core_times(core), time.process_time()
        while time.process_time() < cpu0 + 0.3:
            pass
        b1, t1 = capacity.core_times(core)
    finally:
        os.sched_setaffinity(0, cores)
    tick = os.sysconf("SC_CLK_TCK")
    assert b1 - b0 <= t1 - t0
    assert (b1 - b0) / tick >= 0.25  # this process's 0.3 s of CPU on that core


def test_canvas_state_is_the_drawn_digit():
    state = json.loads(canvas_state(7))["drawing"]
    head, data = state["data"].split(";base64,")
    assert head == "data:image/png"
    image = np.asarray(Image.open(io.BytesIO(base64.b64decode(data))))
    assert image.shape == (280, 280, 4)
    ink = image[..., 0] > 128
    assert 0.02 < ink.mean() < 0.3  # a stroke, not a blank or a filled canvas
    assert len(state["raw"]["objects"]) == len(STROKES[7])


@pytest.fixture(scope="module")
def server():
    if capacity.app_checkpoint_missing():
        pytest.skip(capacity.app_checkpoint_missing())
    with Server() as s:
        yield s


def test_client_is_answered_with_the_digit_it_drew(server):
    """Each digit drawn, cleared, the next: the prediction shown is the digit drawn, a
    clear shows none, and every run's images are fetched."""

    async def go():
        s = Student(server.url)
        page = await s.open()
        got = []
        try:
            for digit in (*capacity.STROKE_DIGITS, 4):  # 4 is drawn in two strokes
                if s.drawn:
                    cleared = await s.clear()
                    assert cleared["value"] is None
                    assert cleared["image_bytes"] > 0
                got.append(await s.stroke(digit))
        finally:
            await s.close()
        return page, got

    page, got = asyncio.run(go())
    assert page["image_bytes"] > 0
    assert [r["value"] for r in got] == [str(d) for d in (*capacity.STROKE_DIGITS, 4)]
    for r in got:
        assert 0 < r["latency_s"] <= r["run_s"]
        assert r["image_bytes"] > 10_000  # the layers' images came back


def test_client_sends_what_chromium_sends_for_a_stroke(server):
    """Chromium draws a 7; the BackMsg it sent is compared with the client's for its own 7:
    the same page, fragment, query string, widget ids and value kinds, the same state
    shape, and both answered with a 7."""
    from streamlit.proto.BackMsg_pb2 import BackMsg

    from lenet_testkit.browser import (
        INSTALL_HINT,
        browser,
        chromium_path,
        draw_digit,
        wait_prediction,
    )

    if chromium_path() is None:
        pytest.skip(INSTALL_HINT)
    frames = []
    with browser() as b:
        page = b.new_page(viewport={"width": 1400, "height": 1000})
        page.on("websocket", lambda ws: ws.on("framesent", lambda p: frames.append(p)))
        page.goto(server.url)
        page.wait_for_selector("canvas", timeout=60_000)
        draw_digit(page, 7)
        assert wait_prediction(page) == "7"
    sent = [BackMsg.FromString(f) for f in frames]
    theirs = [m for m in sent if m.rerun_script.fragment_id][-1]  # the stroke's rerun

    async def ours():
        s = Student(server.url)
        await s.open()
        try:
            r = await s.stroke(7)
        finally:
            await s.close()
        return s.sent, r

    mine, r = asyncio.run(ours())
    assert r["value"] == "7"
    a, b = theirs.rerun_script, mine.rerun_script
    for field in ("page_script_hash", "fragment_id", "query_string"):
        assert getattr(a, field) == getattr(b, field) != ""
    kinds = [{w.id: w.WhichOneof("value") for w in m.widget_states.widgets} for m in (a, b)]
    assert kinds[0] == kinds[1]
    values = [
        {w.id: w.SerializeToString() for w in m.widget_states.widgets if w.json_value == ""}
        for m in (a, b)
    ]
    assert values[0] == values[1]  # every widget but the canvas: the same value
    states = [
        json.loads(next(w.json_value for w in m.widget_states.widgets if w.json_value))
        for m in (a, b)
    ]
    assert [sorted(s["drawing"]) for s in states] == [["data", "raw"]] * 2
    assert {o["type"] for s in states for o in s["drawing"]["raw"]["objects"]} == {"Path"}
    assert a.context_info == b.context_info
