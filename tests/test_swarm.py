"""The Docker Swarm stack (deploy/swarm/stack.yaml) on a single-node swarm: 3 replicas of
the app image behind the stack's nginx balancer, two Chromium sessions drawing through it
while the app is scaled to 4 and back to 2, then a rolling update to a new image tag while
one session draws.

Marker `docker`; skips when no Docker engine answers and fails instead under CI=true (as
tests/test_docker.py). It reuses test_docker's images (`docker_image`, `balancer_image`:
built once per pytest run). A swarm is initialised (advertised on 127.0.0.1) only when
the engine is in none, and left again at the end; the stack is always removed. All
traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lenet_testkit.browser import free_port, prediction_text
from tests.docker_engine import IN_CI, Image, docker, http_get

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parent.parent
STACK_DIR = ROOT / "deploy" / "swarm"
STACK_FILE = STACK_DIR / "stack.yaml"
ROUTE_COOKIE = "lenet_route"
DIGITS = (0, 1, 2, 3, 7)  # single-stroke digits (bench.common.STROKE_DIGITS)
STACK_PREFIX = "lenet5test"
SWARM_LABEL = "org.lenet5.test=1"
CONVERGE_TIMEOUT_S = float(os.environ.get("LENET_SWARM_TIMEOUT", 240))
# Counts the page's websockets (Streamlit's /_stcore/stream): opened, closed, open now.
WS_TRACKER = """(() => {
  const W = window.WebSocket;
  window.__ws = {opens: [], closes: [], open: 0};
  window.WebSocket = class extends W {
    constructor(...args) {
      super(...args);
      this.addEventListener('open', () => { __ws.opens.push(performance.now()); __ws.open++; });
      this.addEventListener('close', () => { __ws.closes.push(performance.now()); __ws.open--; });
    }
  };
})()"""


# ---- the stack file itself (no engine needed) ----------------------------------------


def test_swarm_stack_file_policy():
    """What the stack promises: start-first rolling updates with a failure action, limits,
    restart policy, the image's health check untouched, the balancer's configs."""
    yaml = pytest.importorskip("yaml", reason="PyYAML is in requirements-dev.txt")
    stack = yaml.safe_load(STACK_FILE.read_text())
    app, lb = stack["services"]["app"], stack["services"]["balancer"]
    deploy = app["deploy"]
    assert deploy["update_config"]["order"] == "start-first"
    assert deploy["update_config"]["failure_action"] in ("rollback", "pause")
    assert deploy["restart_policy"]["condition"] == "any"
    assert {"cpus", "memory"} <= set(deploy["resources"]["limits"])
    assert "healthcheck" not in app, "the image's own HEALTHCHECK is the one to use"
    assert app["read_only"] is True
    assert {v["target"] for v in app["volumes"]} == {"/tmp", "/home/app"}
    targets = {c["target"] for c in lb["configs"]}
    assert targets == {"/etc/nginx/nginx.conf", "/etc/lenet/balancer.sh"}
    assert lb["environment"]["LENET_REPLICAS"] == "tasks.app"
    conf = (STACK_DIR / "nginx.conf").read_text()
    for directive in (
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $connection_upgrade;",
        "proxy_read_timeout 1d;",
        "proxy_pass http://$lenet_backend;",
        "include /tmp/lenet/replicas.conf;",
    ):
        assert directive in conf, directive


# ---- a swarm and the stack on it -------------------------------------------------------


@pytest.fixture(scope="module")
def swarm(docker_image: Image) -> Iterator[bool]:
    """A swarm this engine manages; True when this fixture created it (and leaves it)."""
    info = json.loads(docker("info", "--format", "{{json .Swarm}}").stdout)
    state = info.get("LocalNodeState")
    created = False
    if state == "inactive":
        docker("swarm", "init", "--advertise-addr", "127.0.0.1", timeout=60)
        node = docker("info", "--format", "{{.Swarm.NodeID}}").stdout.strip()
        # marked as ours: a run killed before leaving it is recognised by the next one
        docker("node", "update", "--label-add", SWARM_LABEL, node, check=False)
        created = True
    elif state == "active" and info.get("ControlAvailable"):
        labels = docker("node", "inspect", "-f", "{{json .Spec.Labels}}", "self").stdout
        created = SWARM_LABEL.split("=")[0] in (json.loads(labels or "null") or {})
        for name in docker("stack", "ls", "--format", "{{.Name}}").stdout.split():
            if name.startswith(STACK_PREFIX):  # left by a killed run
                _stack_gone(name)
    else:
        why = f"the engine's swarm is {state!r} (manager: {info.get('ControlAvailable')})"
        if IN_CI:
            pytest.fail(why)
        pytest.skip(why)
    try:
        yield created
    finally:
        if created:
            docker("swarm", "leave", "--force", timeout=60, check=False)


@dataclass
class Stack:
    name: str
    url: str
    env: dict[str, str]
    log: list[str] = field(default_factory=list)  # what happened, for the report

    @property
    def app(self) -> str:
        return f"{self.name}_app"

    def deploy(self, **env: str) -> None:
        self.env.update(env)
        result = subprocess.run(
            [
                "docker",
                "stack",
                "deploy",
                "--resolve-image",
                "never",
                "--prune",
                "-c",
                str(STACK_FILE),
                self.name,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=STACK_DIR,
            env={**os.environ, **self.env},
        )
        assert result.returncode == 0, result.stderr[-3000:]

    def balancer_container(self) -> str:
        ids = docker(
            "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={self.name}_balancer"
        ).stdout.split()
        return ids[0] if ids else ""

    def replicas(self) -> set[str]:
        """host:port of each replica the balancer routes to now (its replicas.conf)."""
        container = self.balancer_container()
        if not container:
            return set()
        conf = docker("exec", container, "cat", "/tmp/lenet/replicas.conf", check=False).stdout
        return set(re.findall(r"^\s*server (\d+\.\d+\.\d+\.\d+:\d+) max_fails", conf, re.M))

    def update_state(self) -> str:
        out = docker("service", "inspect", "-f", "{{json .UpdateStatus}}", self.app).stdout
        status = json.loads(out or "null") or {}
        return status.get("State", "")

    def wait(self, replicas: int, settled=lambda: True) -> set[str]:
        """Until the balancer routes to exactly `replicas` replicas, all tasks of the app
        are running, and `settled()`; the replicas' addresses."""
        deadline = time.monotonic() + CONVERGE_TIMEOUT_S
        while time.monotonic() < deadline:
            tasks = docker(
                "service", "ps", "-q", "--filter", "desired-state=running", self.app
            ).stdout.split()
            live = self.replicas()
            if len(live) == replicas and len(tasks) == replicas and settled():
                try:
                    if http_get(f"{self.url}/lb-health", timeout=5)[0] == 200:
                        return live
                except OSError:
                    pass
            time.sleep(1)
        ps = docker("service", "ps", "--no-trunc", self.app, check=False).stdout
        raise AssertionError(
            f"{self.app} did not settle on {replicas} replicas in {CONVERGE_TIMEOUT_S:.0f} s; "
            f"balancer routes to {sorted(self.replicas())}:\n{ps[-3000:]}"
        )


def _stack_gone(name: str) -> None:
    docker("stack", "rm", name, check=False)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # tasks and the network go away asynchronously
        left = docker("ps", "-aq", "--filter", f"label=com.docker.stack.namespace={name}")
        nets = docker("network", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={name}")
        if not left.stdout.split() and not nets.stdout.split():
            return
        time.sleep(1)


@pytest.fixture(scope="module")
def stack(swarm: bool, docker_image: Image, balancer_image: str) -> Iterator[Stack]:
    """The stack deployed with 3 replicas on a free port (host-mode publishing), settled."""
    name = f"{STACK_PREFIX}{uuid.uuid4().hex[:6]}"
    port = free_port()
    env = {
        "IMAGE": docker_image.tag,
        "BALANCER_IMAGE": balancer_image,
        "REPLICAS": "3",
        "LB_PORT": str(port),
        "LB_PUBLISH_MODE": os.environ.get("LENET_SWARM_PUBLISH_MODE", "host"),
    }
    s = Stack(name=name, url=f"http://127.0.0.1:{port}", env=env)
    try:
        s.deploy()
        s.wait(3)
        yield s
    finally:
        _stack_gone(name)
        print("\n".join(["", f"swarm stack {name}:", *s.log]))


# ---- Chromium sessions through the balancer --------------------------------------------


@dataclass
class Session:
    """One student's tab (its own browser context, so its own routing cookie)."""

    name: str
    page: object
    origin: float = 0.0  # performance.timeOrigin: changes only if the page reloads
    strokes: list[dict] = field(default_factory=list)

    def route(self) -> str | None:
        return {c["name"]: c["value"] for c in self.page.context.cookies()}.get(ROUTE_COOKIE)

    def ws(self) -> dict:
        return self.page.evaluate("() => ({...window.__ws})")

    def reloaded(self) -> bool:
        return self.page.evaluate("() => performance.timeOrigin") != self.origin


def open_session(b, url: str, name: str) -> Session:
    context = b.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(WS_TRACKER)
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("canvas", timeout=90_000)
    return Session(name=name, page=page, origin=page.evaluate("() => performance.timeOrigin"))


def clear(session: Session, timeout_s: float = 10) -> bool:
    """lenet_testkit.browser.clear_canvas that gives up (False) while the page is disconnected."""
    page = session.page
    try:
        page.locator(".st-key-clear_canvas button").click(timeout=timeout_s * 1000)
        page.wait_for_function(
            "() => !document.querySelector('.st-key-prediction')", timeout=timeout_s * 1000
        )
        return True
    except Exception:
        return False


def stroke(session: Session, n: int, timeout_s: float = 15) -> dict:
    """Draw one digit on a blank canvas and wait for its prediction (bench.browser.stroke);
    the record says whether the websocket was open all along (no close while it ran)."""
    from bench.browser import stroke as draw_and_time

    if prediction_text(session.page) is not None and not clear(session):
        return {"skipped": "could not clear the canvas (disconnected)"}
    digit = DIGITS[n % len(DIGITS)]
    before = session.ws()
    r = draw_and_time(session.page, digit, timeout_s)
    after = session.ws()
    r.update(
        digit=digit,
        connected=before["open"] > 0 and len(after["closes"]) == len(before["closes"]),
        reconnects=len(after["opens"]) - 1,
    )
    r["ok"] = "error" not in r and r.get("value") == str(digit)
    session.strokes.append(r)
    clear(session)
    return r


def assert_predicts(session: Session, strokes: int = 2) -> None:
    """The next `strokes` digits drawn are all predicted right (after a reconnect, the
    first stroke is drawn once the page is connected again, as a student would)."""
    deadline = time.monotonic() + 60
    while session.ws()["open"] == 0 and time.monotonic() < deadline:
        session.page.wait_for_timeout(250)
    for n in range(strokes):
        r = stroke(session, n)
        assert r.get("ok"), f"{session.name}: stroke {n} not predicted right: {r}"
    assert not session.reloaded(), f"{session.name}: the page was reloaded"


def lost_while_connected(session: Session) -> list[dict]:
    return [r for r in session.strokes if "skipped" not in r and r["connected"] and not r["ok"]]


def _scale(stack: Stack, replicas: int) -> set[str]:
    docker("service", "scale", "--detach", f"{stack.app}={replicas}", timeout=60)
    return stack.wait(replicas)


def _kept_or_reconnected(session: Session, opens: int, live: set[str], route: str) -> str:
    """After replicas went away: a session whose replica is still there keeps its websocket
    (no reconnect) and predicts; one whose replica was removed reconnects by itself to a
    live replica and predicts the next strokes. Returns which, in words."""
    if route not in live:  # a student draws again once the page says it is connected again
        deadline = time.monotonic() + 60
        while len(session.ws()["opens"]) <= opens and time.monotonic() < deadline:
            session.page.wait_for_timeout(250)
    assert_predicts(session)
    now = session.route()
    if route in live:
        assert len(session.ws()["opens"]) == opens, f"{session.name} reconnected needlessly"
        assert now == route, f"{session.name} moved from {route} to {now}"
        return f"{session.name}: kept its session on {route}"
    assert len(session.ws()["opens"]) > opens, session.ws()
    assert now in live, f"{session.name}: cookie {now}, live replicas {sorted(live)}"
    return f"{session.name}: its replica {route} was removed; reconnected by itself to {now}"


def _check_scaling(stack: Stack, sessions: list[Session]) -> None:
    routes = {s.name: s.route() for s in sessions}
    opens = {s.name: len(s.ws()["opens"]) for s in sessions}
    live4 = _scale(stack, 4)
    stack.log.append(f"scaled to 4: {sorted(live4)}")
    for s in sessions:  # a new replica takes new students; nobody moves to it
        assert_predicts(s)
        assert s.route() == routes[s.name], f"{s.name} moved when a replica was added"
        assert len(s.ws()["opens"]) == opens[s.name], f"{s.name} reconnected on scale-up"
    live2 = _scale(stack, 2)
    stack.log.append(f"scaled to 2: {sorted(live2)}")
    for s in sessions:
        stack.log.append(_kept_or_reconnected(s, opens[s.name], live2, routes[s.name]))


def _check_rolling_update(stack: Stack, image: str, drawing: Session, idle: Session) -> None:
    """Redeploy the stack with a new tag of the same image; `drawing` draws all along."""
    before = stack.replicas()
    opens, first = len(drawing.ws()["opens"]), len(drawing.strokes)
    new_tag = f"{image.rsplit(':', 1)[0]}:swarm-{uuid.uuid4().hex[:6]}"
    docker("tag", image, new_tag)
    try:
        stack.deploy(IMAGE=new_tag, REPLICAS=str(len(before)))
        deadline = time.monotonic() + CONVERGE_TIMEOUT_S
        n = 0
        while stack.update_state() != "completed" and time.monotonic() < deadline:
            stroke(drawing, n)
            n += 1
        after = stack.wait(len(before), settled=lambda: stack.update_state() == "completed")
        spec = docker(
            "service", "inspect", "-f", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", stack.app
        ).stdout
        assert spec.startswith(new_tag), spec
        assert after.isdisjoint(before), f"old replicas still routed: {before & after}"
        during = drawing.strokes[first:]
        stack.log.append(
            f"rolling update to {new_tag}: {len(during)} strokes drawn during it, "
            f"{sum(r['ok'] for r in during)} predicted; replicas {sorted(before)} -> "
            f"{sorted(after)}"
        )
        assert len(during) >= 3, f"the update finished after {n} tries: too fast to test"
        assert lost_while_connected(drawing) == []
        assert_predicts(drawing)
        assert_predicts(idle)
        reconnects = len(drawing.ws()["opens"]) - opens
        assert reconnects >= 1, "every replica was replaced, yet the page never reconnected"
        stack.log.append(
            f"{drawing.name}: reconnected by itself {reconnects} time(s), no page reload, "
            f"no stroke lost while connected; {idle.name} (idle) predicts again too"
        )
    finally:
        docker("image", "rm", new_tag, check=False)


def test_swarm_sessions_through_scaling_and_rolling_update(chrome, docker_image, stack):
    """Two students draw through the stack's balancer while the app goes 3 -> 4 -> 2
    replicas and then rolls to a new image tag (start-first)."""
    if docker_image.stub_app:
        pytest.skip("stub app only: app.py does not exist yet")
    sessions = [open_session(chrome, stack.url, name) for name in ("A", "B")]
    try:
        live3 = stack.replicas()
        for s in sessions:
            assert_predicts(s)
            assert s.route() in live3, f"{s.name}: cookie {s.route()}, replicas {sorted(live3)}"
        stack.log.append(f"3 replicas {sorted(live3)}; routes {[s.route() for s in sessions]}")
        _check_scaling(stack, sessions)
        _check_rolling_update(stack, docker_image.tag, *sessions)
        for s in sessions:
            assert lost_while_connected(s) == [], s.name
    finally:
        for s in sessions:
            s.page.context.close()
