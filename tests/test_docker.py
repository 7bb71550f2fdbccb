"""The Docker image: built with docker/build.sh, run on a free port, healthy, serving the app
as a non-root user that cannot write the code, and no bigger than 1.5 GB.

Skips when no Docker engine can be reached (fails instead under CI=true). Every container
started here is removed again, also when a test fails or the run is interrupted (stale ones
from a killed run are removed at the next start).

Browser tests against the container: request the `docker_app_url` fixture (tests/conftest.py,
with the `docker_image` and `docker_container` fixtures it depends on, built once per run),
or use `tests.docker_engine.running_container(image)` directly. The tests here draw digits in Chromium
(lenet_testkit/browser.py) against one container, and against two replicas behind the load balancer
of the compose profile "scale" (docker/nginx.conf, `balanced_replicas`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from lenet_testkit.browser import (
    clear_canvas,
    draw_digit,
    errors_on,
    open_app,
    wait_prediction,
)
from tests.docker_engine import (
    LABEL,
    ROOT,
    Container,
    Image,
    docker,
    http_get,
    publish,
    published_url,
    running_container,
    wait_healthy,
)

pytestmark = pytest.mark.docker

MAX_IMAGE_BYTES = 1_500_000_000  # 1.5 GB, as `docker images` counts (decimal)
EXPECTED_APP_FILES = {".streamlit", "app.py", "lenet", "models", "pages"}
NGINX_CONF = ROOT / "docker" / "nginx.conf"
COMPOSE_FILE = ROOT / "compose.yaml"
ROUTE_COOKIE = "lenet_route"
# the balancer's access log (log_format lenet in docker/nginx.conf)
LOG_LINE = re.compile(
    r'"(?P<method>[A-Z]+) (?P<path>\S+) [^"]*" (?P<status>\d{3}) \d+ '
    r"upstream=(?P<upstream>.+?) route=(?P<route>\S+)"
)


def test_image_size_at_most_1_5_gb(docker_image: Image, record_property):
    record_property("image_bytes", docker_image.size_bytes)
    record_property("build_seconds", round(docker_image.build_seconds, 1))
    print(
        f"\n{docker_image.tag}: {docker_image.size_bytes / 1e9:.2f} GB, "
        f"built in {docker_image.build_seconds:.0f} s"
    )
    assert docker_image.size_bytes <= MAX_IMAGE_BYTES, (
        f"image is {docker_image.size_bytes / 1e9:.2f} GB, over 1.5 GB"
    )


def test_image_metadata(docker_image: Image):
    config = json.loads(
        docker("image", "inspect", "-f", "{{json .Config}}", docker_image.tag).stdout
    )
    assert "8501/tcp" in (config.get("ExposedPorts") or {})
    assert config.get("User") not in ("", "0", "root", None)
    health = " ".join((config.get("Healthcheck") or {}).get("Test") or [])
    assert "/_stcore/health" in health
    env = dict(item.split("=", 1) for item in config.get("Env") or [])
    assert env.get("STREAMLIT_BROWSER_GATHER_USAGE_STATS") == "false"
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1"
    assert config.get("WorkingDir") == "/app"
    assert config.get("Cmd")[:3] == ["python", "-m", "lenet.server"]


def test_serves_the_app_and_health(docker_container: Container):
    status, body = http_get(f"{docker_container.url}/_stcore/health")
    assert (status, body.strip()) == (200, "ok")
    status, body = http_get(f"{docker_container.url}/")
    assert status == 200
    assert 'id="root"' in body, body[:500]


def test_app_script_runs_without_exception(docker_image: Image, docker_container: Container):
    """The page's script itself, run in the container with streamlit's AppTest."""
    if docker_image.stub_app:
        pytest.skip("stub app only: app.py does not exist yet")
    script = (
        "from streamlit.testing.v1 import AppTest\n"
        "at = AppTest.from_file('app.py', default_timeout=120).run()\n"
        "assert not at.exception, [e.message for e in at.exception]\n"
        "print('titles', [t.value for t in at.title])\n"
    )
    result = docker_container.exec("python", "-c", script)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]


def test_runs_as_non_root(docker_container: Container):
    uid = docker_container.exec("id", "-u", check=True).stdout.strip()
    assert uid != "0"
    # the server process itself (PID 1), not just `docker exec`
    status = docker_container.exec("cat", "/proc/1/status", check=True).stdout
    uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
    assert "0" not in uids, status


def test_cannot_write_code_or_models(docker_container: Container):
    for path in ("/app/x", "/app/models/x", "/app/lenet/x", "/app/app.py", "/opt/venv/x"):
        result = docker_container.exec("sh", "-c", f"touch {path}")
        assert result.returncode != 0, f"the app user could write {path}"
    owned = docker_container.exec("find", "/app", "/opt/venv", "-user", "app", check=True).stdout
    assert owned.strip() == "", f"the app user owns: {owned[:500]}"
    # ...but has a writable home of its own
    assert docker_container.exec("sh", "-c", 'touch "$HOME/.probe"').returncode == 0


def test_only_the_app_is_in_the_image(docker_image: Image, docker_container: Container):
    listing = docker_container.exec("ls", "-A", "/app", check=True).stdout.split()
    assert set(listing) == EXPECTED_APP_FILES, listing
    stray = docker_container.exec(
        "find",
        "/app",
        "(",
        "-name",
        "__pycache__",
        "-o",
        "-name",
        "*.resume.safetensors",
        "-o",
        "-name",
        "tests",
        "-o",
        "-name",
        "data",
        ")",
    ).stdout
    assert stray.strip() == "", stray
    if not docker_image.stub_app:
        models = docker_container.exec("ls", "/app/models", check=True).stdout.split()
        assert any(name.endswith(".safetensors") for name in models), models
        config = docker_container.exec("cat", "/app/.streamlit/config.toml", check=True).stdout
        assert config == (ROOT / ".streamlit" / "config.toml").read_text()
    torch = docker_container.exec(
        "python", "-c", "import torch; print(torch.__version__, torch.version.cuda)", check=True
    ).stdout.split()
    assert torch[1] == "None", f"CUDA build of torch in the image: {torch}"


def test_the_image_holds_mnist_for_the_training_page(docker_image: Image, docker_container):
    """The training page trains offline: the four MNIST files, verified, where
    LENET_DATA_DIR points."""
    if docker_image.stub_app:
        pytest.skip("a stub app has no lenet.data")
    verify = docker_container.exec("python", "-m", "lenet.data", "verify", "--root", "/opt/mnist")
    assert verify.returncode == 0, verify.stdout
    found = docker_container.exec(
        "python",
        "-c",
        "from lenet import jobs; print(jobs.data_dir(), jobs.data_present())",
        check=True,
    ).stdout.split()
    assert found == ["/opt/mnist", "True"], found


def test_dockerignore_keeps_the_context_small(docker_image: Image, tmp_path):
    """Build a throwaway image from the repository itself (as `docker compose` does) and
    list what the context delivered: no .venv, .git, tests, caches or resume files, and of
    data/ only the MNIST files (the training page trains offline in the image)."""
    tag = f"lenet5-context-probe:{uuid.uuid4().hex[:8]}"
    dockerfile = tmp_path / "Dockerfile.context"
    dockerfile.write_text(f"FROM {docker_image.tag}\nCOPY . /ctx/\n")
    docker("build", "-q", "-f", str(dockerfile), "-t", tag, str(ROOT), timeout=600)
    try:
        files = docker(
            "run", "--rm", "--entrypoint", "find", tag, "/ctx", "-mindepth", "1"
        ).stdout.split()
    finally:
        docker("rmi", "-f", tag, check=False)
    top = {path.split("/")[2] for path in files}
    assert top <= EXPECTED_APP_FILES | {"requirements.txt", "wheels", "data"}, sorted(top)
    data = [p for p in files if p.startswith("/ctx/data/")]
    assert all(p == "/ctx/data/mnist" or p.endswith("-ubyte") for p in data), data
    assert not [p for p in files if "__pycache__" in p or p.endswith(".resume.safetensors")]


def test_stops_promptly(docker_image: Image):
    """`docker stop` (and so compose down/restart) ends the server with SIGTERM, no kill."""
    with running_container(docker_image.tag) as container:
        wait_healthy(container)
        start = time.monotonic()
        docker("stop", "-t", "20", container.name, timeout=60)
        seconds = time.monotonic() - start
        code = docker("inspect", "-f", "{{.State.ExitCode}}", container.name).stdout.strip()
    assert seconds < 15, f"docker stop took {seconds:.1f} s"
    assert code in ("0", "143"), f"exit code {code} after SIGTERM"


# ---- Chromium against the container (lenet_testkit/browser.py) --------------------------------


def draw_and_read(page, digit: int) -> str:
    """Draw `digit` on the canvas with the mouse; the digit the prediction container shows."""
    draw_digit(page, digit)
    try:
        return wait_prediction(page, timeout=60)
    except TimeoutError:
        body = page.inner_text("body")[:1500]
        raise AssertionError(
            f"no prediction after drawing {digit}; the page says:\n{body}"
        ) from None


def draw_session(page) -> None:
    """A student's session on the draw page: 7, clear, 1; the right digit each time."""
    for digit in (7, 1):
        shown = draw_and_read(page, digit)
        assert shown == str(digit), f"drew {digit}, the app said {shown}"
        assert errors_on(page) == []
        clear_canvas(page)
    assert errors_on(page) == []


def test_draw_digits_in_chromium(chrome, docker_image: Image, docker_app_url: str):
    """The page loads from the container and predicts the digits drawn on its canvas."""
    if docker_image.stub_app:
        pytest.skip("stub app only: app.py does not exist yet")
    page = open_app(chrome, docker_app_url)
    try:
        draw_session(page)
    finally:
        page.close()


# ---- several replicas behind the load balancer (compose profile "scale") ----------------


@dataclass(frozen=True)
class Balanced:
    url: str  # the balancer, as a browser reaches it
    balancer: Container
    replicas: tuple[Container, ...]  # url: the replica's address on the private network
    network: str

    @property
    def replica_addresses(self) -> set[str]:
        """host:port of each replica, as the balancer's log names them (upstream=)."""
        return {urllib.parse.urlparse(r.url).netloc for r in self.replicas}

    def access_log(self) -> list[dict[str, str]]:
        out = docker("logs", self.balancer.name, check=False).stdout  # errors go to stderr
        return [m.groupdict() for m in map(LOG_LINE.search, out.splitlines()) if m]

    def wait_log(self, predicate, timeout: float = 10) -> list[dict[str, str]]:
        """The access log once some line satisfies predicate (nginx logs when it is done)."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.access_log()
            if any(predicate(entry) for entry in log) or time.monotonic() > deadline:
                return log
            time.sleep(0.2)


@contextmanager
def balanced_replicas(app_image: str, balancer_image: str, replicas: int = 2):
    """What `docker compose --profile scale up balancer` starts, with plain `docker run`:
    `replicas` app containers on a private network under the name `replica`, and the
    balancer in front of them, published on a free host port. Everything is removed again."""
    suffix = uuid.uuid4().hex[:10]
    network = f"lenet5-test-{suffix}"
    names: list[str] = []
    fast_health = ("--health-interval", "2s")  # the images' own checks, polled sooner
    docker("network", "create", "--label", LABEL, network)
    try:
        for i in range(1, replicas + 1):
            names.append(f"lenet5-test-{suffix}-replica{i}")
            docker(
                "run",
                "-d",
                "--name",
                names[-1],
                "--label",
                LABEL,
                "--network",
                network,
                "--network-alias",
                "replica",
                "--read-only",
                "--tmpfs",
                "/tmp",
                "--tmpfs",
                "/home/app:uid=10001,gid=10001",
                *fast_health,
                app_image,
            )
        members = []
        for name in names:
            wait_healthy(Container(name=name, url=""))
            ip = docker(
                "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name
            ).stdout.strip()
            members.append(Container(name=name, url=f"http://{ip}:8501"))
        # nginx resolves `replica` once, when it starts: every replica must exist by then
        names.append(f"lenet5-test-{suffix}-balancer")
        docker(
            "run",
            "-d",
            "--name",
            names[-1],
            "--label",
            LABEL,
            "--network",
            network,
            "--read-only",
            "--tmpfs",
            "/tmp",
            *publish(8080),
            *fast_health,
            balancer_image,
        )
        balancer = Container(name=names[-1], url=published_url(names[-1], 8080))
        wait_healthy(balancer, timeout=60)
        yield Balanced(
            url=balancer.url, balancer=balancer, replicas=tuple(members), network=network
        )
    finally:
        if names:
            docker("rm", "-f", *names, check=False)
        docker("network", "rm", network, check=False)


@pytest.fixture(scope="module")
def balanced(docker_image: Image, balancer_image: str) -> Iterator[Balanced]:
    """Two healthy replicas of the app behind a healthy balancer."""
    with balanced_replicas(docker_image.tag, balancer_image, replicas=2) as setup:
        yield setup


def _directives(conf: str) -> str:
    return "\n".join(line.split("#", 1)[0] for line in conf.splitlines())


def test_balancer_config_sticky_and_websockets(balanced: Balanced):
    conf = balanced.balancer.exec("cat", "/etc/nginx/nginx.conf", check=True).stdout
    assert conf == NGINX_CONF.read_text(), "the image does not carry docker/nginx.conf"
    result = balanced.balancer.exec("nginx", "-t", "-e", "stderr")  # as the image's user
    assert result.returncode == 0, result.stderr
    text = _directives(conf)
    upstream = re.search(r"upstream lenet_replicas \{(?P<body>[^}]*)\}", text)["body"]
    # sticky: a hash over the routing cookie (docker/nginx.conf says why not ip_hash)
    assert re.search(r"^\s*hash \$lenet_route;", upstream, re.M), upstream
    assert re.search(r"^\s*server replica:8501\b", upstream, re.M), upstream
    stream = re.search(r"location /_stcore/stream \{(?P<body>[^}]*)\}", text)["body"]
    for directive in (
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $connection_upgrade;",
        "proxy_read_timeout 1d;",
    ):
        assert directive in stream, directive
    assert re.search(r"^\s*proxy_http_version 1\.1;", text, re.M)
    uid = balanced.balancer.exec("sh", "-c", "grep ^Uid: /proc/1/status", check=True).stdout
    assert "\t0\t" not in uid + "\t", f"nginx runs as root: {uid}"


def test_balancer_spreads_browsers_and_keeps_each_on_one_replica(balanced: Balanced):
    with urllib.request.urlopen(f"{balanced.url}/_stcore/health?probe=first", timeout=10) as r:
        cookies = r.headers.get_all("Set-Cookie") or []
    ours = [c for c in cookies if c.startswith(f"{ROUTE_COOKIE}=")]
    assert len(ours) == 1, cookies
    route = ours[0].split(";", 1)[0].split("=", 1)[1]
    for i in range(8):  # the same browser again: its cookie, no new one
        request = urllib.request.Request(
            f"{balanced.url}/_stcore/health?probe=sticky-{i}",
            headers={"Cookie": f"{ROUTE_COOKIE}={route}"},
        )
        with urllib.request.urlopen(request, timeout=10) as r:
            assert r.status == 200
            assert not any(
                c.startswith(f"{ROUTE_COOKIE}=") for c in r.headers.get_all("Set-Cookie") or []
            )
    for i in range(24):  # 24 new browsers, all from this one address
        assert http_get(f"{balanced.url}/_stcore/health?probe=fresh-{i}")[0] == 200
    log = balanced.wait_log(lambda e: e["path"].endswith("probe=fresh-23"))
    same = [e["upstream"] for e in log if e["route"] == route]
    assert len(same) == 9 and len(set(same)) == 1, same
    assert set(same) <= balanced.replica_addresses
    fresh = {e["upstream"] for e in log if "probe=fresh-" in e["path"]}
    assert fresh == balanced.replica_addresses, "new browsers from one address all went to one"


def test_drawing_session_through_the_balancer(chrome, docker_image: Image, balanced: Balanced):
    """A student's whole session through the balancer: the page, its websocket (upgraded),
    predictions, all on one replica; both replicas stay up."""
    if docker_image.stub_app:
        pytest.skip("stub app only: app.py does not exist yet")
    page = open_app(chrome, balanced.url)
    try:
        draw_session(page)
        route = {c["name"]: c["value"] for c in page.context.cookies()}.get(ROUTE_COOKIE)
    finally:
        page.close()  # closes the websocket: nginx logs it then
    assert route, "the balancer set no routing cookie"

    def is_stream(entry):
        return entry["route"] == route and entry["path"] == "/_stcore/stream"

    log = balanced.wait_log(is_stream)
    streams = [e for e in log if is_stream(e)]
    assert streams and all(e["status"] == "101" for e in streams), streams
    served = {e["upstream"] for e in log if e["route"] == route}
    assert len(served) == 1 and served <= balanced.replica_addresses, served
    assert len([e for e in log if e["route"] == route]) > 10  # page, scripts, websocket...
    for replica in balanced.replicas:
        health = docker("inspect", "-f", "{{.State.Health.Status}}", replica.name).stdout
        assert health.strip() == "healthy", f"{replica.name}: {health}"


def _compose_cli() -> list[str] | None:
    docker_cli = shutil.which("docker")
    if docker_cli:
        probe = subprocess.run(
            [docker_cli, "compose", "version"], capture_output=True, timeout=30, check=False
        )
        if probe.returncode == 0:
            return [docker_cli, "compose"]
    v1 = shutil.which("docker-compose")
    return [v1] if v1 else None


def test_compose_scale_profile():
    """compose.yaml: `app` alone by default; profile "scale" adds the replicas (no published
    port, two by default) and the balancer built from docker/nginx.Dockerfile."""
    text = COMPOSE_FILE.read_text()
    for needle in ('profiles: ["scale"]', "dockerfile: nginx.Dockerfile", "context: docker"):
        assert needle in text, needle
    assert re.search(r"^  replica:\n(    .*\n)*?    scale: 2\n", text, re.M)
    assert re.search(r"condition: service_healthy", text)
    compose = _compose_cli()
    if compose is None:  # the text checks above have to do
        return

    def services(*args: str) -> set[str]:
        result = subprocess.run(
            [*compose, "-f", str(COMPOSE_FILE), *args, "config", "--services"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=ROOT,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        return set(result.stdout.split())

    # (Compose v1 lists every service here whatever the profile; v2 only the active ones)
    assert "app" in services()
    assert services("--profile", "scale") == {"app", "replica", "balancer"}
