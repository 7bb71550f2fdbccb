"""The Docker image: built with docker/build.sh, run on a free port, healthy, serving the app
as a non-root user that cannot write the code, and no bigger than 1.5 GB.

Skips when no Docker engine can be reached (fails instead under CI=true). Every container
started here is removed again, also when a test fails or the run is interrupted (stale ones
from a killed run are removed at the next start).

Browser tests against the container: request the `docker_app_url` fixture (with the
`docker_image` and `docker_container` fixtures it depends on, e.g.
`from tests.test_docker import docker_app_url, docker_container, docker_image`), or use the
`running_container(image)` context manager directly.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = ROOT / "docker" / "build.sh"
IN_CI = os.environ.get("CI", "").lower() == "true"
IMAGE_TAG = os.environ.get("LENET_DOCKER_TAG", "lenet5-app:pytest")
MAX_IMAGE_BYTES = 1_500_000_000  # 1.5 GB, as `docker images` counts (decimal)
BUILD_TIMEOUT_S = float(os.environ.get("LENET_DOCKER_BUILD_TIMEOUT", 3600))
HEALTHY_TIMEOUT_S = float(os.environ.get("LENET_DOCKER_HEALTHY_TIMEOUT", 180))
LABEL = "org.lenet5.test=1"
EXPECTED_APP_FILES = {".streamlit", "app.py", "lenet", "models", "pages"}


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"docker {' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}"
        )
    return result


def _engine_problem() -> str | None:
    """None when a Docker engine answers, else why not (one line)."""
    if shutil.which("docker") is None:
        return "the docker CLI is not installed (Debian: apt-get install docker.io)"

    def probe() -> subprocess.CompletedProcess:
        return docker("info", "--format", "{{.ServerVersion}}", timeout=30, check=False)

    try:
        result = probe()
        if result.returncode != 0 and os.geteuid() == 0 and shutil.which("dockerd"):
            # dockerd is installed but not running: docker/build.sh knows how to start it
            subprocess.run(["bash", str(BUILD_SCRIPT), "--ensure-engine"], timeout=90, check=False)
            result = probe()
    except subprocess.TimeoutExpired:
        return "docker info timed out"
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        return lines[-1] if lines else f"docker info exited {result.returncode}"
    return None


def _remove_stale_containers() -> None:
    ids = docker("ps", "-aq", "--filter", f"label={LABEL}", check=False).stdout.split()
    if ids:
        docker("rm", "-f", *ids, check=False)


def _host_for_published_ports() -> str:
    """Where published ports are reachable: localhost, unless DOCKER_HOST is remote."""
    parsed = urllib.parse.urlparse(os.environ.get("DOCKER_HOST", ""))
    return parsed.hostname if parsed.scheme == "tcp" and parsed.hostname else "127.0.0.1"


def http_get(url: str, timeout: float = 10) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read().decode("utf-8", "replace")


@dataclass(frozen=True)
class Image:
    tag: str
    size_bytes: int
    build_seconds: float
    stub_app: bool


@dataclass(frozen=True)
class Container:
    name: str
    url: str  # base URL, e.g. http://127.0.0.1:32768 (no trailing slash)

    def exec(self, *cmd: str, check: bool = False) -> subprocess.CompletedProcess:
        return docker("exec", self.name, *cmd, check=check)

    def logs(self) -> str:
        result = docker("logs", "--tail", "60", self.name, check=False)
        return result.stdout + result.stderr


def wait_healthy(container: Container, timeout: float = HEALTHY_TIMEOUT_S) -> float:
    """Wait until Docker itself reports the container healthy (its HEALTHCHECK); seconds."""
    start = time.monotonic()
    status = "?"
    while time.monotonic() - start < timeout:
        state = json.loads(docker("inspect", "-f", "{{json .State}}", container.name).stdout)
        if not state.get("Running"):
            raise AssertionError(
                f"container exited (code {state.get('ExitCode')}):\n{container.logs()}"
            )
        status = (state.get("Health") or {}).get("Status", "none")
        if status == "healthy":
            return time.monotonic() - start
        if status in ("unhealthy", "none"):
            raise AssertionError(f"container health is {status!r}:\n{container.logs()}")
        time.sleep(1)
    raise AssertionError(
        f"container not healthy after {timeout:.0f} s (last: {status}):\n{container.logs()}"
    )


@contextmanager
def running_container(image: str, *run_args: str) -> Iterator[Container]:
    """`docker run` the image with port 8501 published on a free host port; always removed."""
    name = f"lenet5-test-{uuid.uuid4().hex[:10]}"
    host = _host_for_published_ports()
    bind = "127.0.0.1" if host == "127.0.0.1" else "0.0.0.0"
    docker(
        "run", "-d", "--name", name, "--label", LABEL, "-p", f"{bind}::8501", *run_args, image
    )  # fmt: skip
    try:
        port = docker("port", name, "8501/tcp").stdout.split()[0].rsplit(":", 1)[1]
        yield Container(name=name, url=f"http://{host}:{port}")
    finally:
        docker("rm", "-f", name, check=False)


@pytest.fixture(scope="session")
def docker_image(tmp_path_factory) -> Image:
    """The app image, built by docker/build.sh (the Debian stand-in base when python:3.11-slim
    cannot be pulled). Without app.py in the repo it builds a stub app: pipeline test only."""
    problem = _engine_problem()
    if problem:
        if IN_CI:
            pytest.fail(f"CI=true needs a Docker engine, and none answers: {problem}")
        pytest.skip(f"no Docker engine can be reached: {problem}")
    _remove_stale_containers()

    stub = not (ROOT / "app.py").exists()
    if stub:
        warnings.warn("app.py does not exist yet: testing the image with a stub app", stacklevel=1)
    log_path = tmp_path_factory.mktemp("docker") / "build.log"
    cmd = ["bash", str(BUILD_SCRIPT), "-t", IMAGE_TAG, *(["--stub-app"] if stub else [])]
    start = time.monotonic()
    with open(log_path, "w") as log:
        try:
            result = subprocess.run(
                cmd, stdout=log, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"docker/build.sh took over {BUILD_TIMEOUT_S:.0f} s; log: {log_path}")
    seconds = time.monotonic() - start
    if result.returncode != 0:
        tail = "\n".join(log_path.read_text().splitlines()[-40:])
        pytest.fail(f"docker/build.sh exited {result.returncode} (log: {log_path}):\n{tail}")
    size = int(docker("image", "inspect", "-f", "{{.Size}}", IMAGE_TAG).stdout.strip())
    return Image(tag=IMAGE_TAG, size_bytes=size, build_seconds=seconds, stub_app=stub)


@pytest.fixture(scope="session")
def docker_container(docker_image: Image) -> Iterator[Container]:
    """One container of the image, healthy, shared by the tests (removed at the end)."""
    with running_container(docker_image.tag) as container:
        wait_healthy(container)
        yield container


@pytest.fixture(scope="session")
def docker_app_url(docker_container: Container) -> str:
    """Base URL of the app served by a healthy container, for browser tests."""
    return docker_container.url


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
    assert config.get("Cmd")[:3] == ["streamlit", "run", "app.py"]


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
        "find", "/app", "(", "-name", "__pycache__", "-o", "-name", "*.resume.safetensors",
        "-o", "-name", "tests", "-o", "-name", "data", ")",
    ).stdout  # fmt: skip
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


def test_dockerignore_keeps_the_context_small(docker_image: Image, tmp_path):
    """Build a throwaway image from the repository itself (as `docker compose` does) and
    list what the context delivered: no .venv, data, .git, tests, caches or resume files."""
    tag = f"lenet5-context-probe:{uuid.uuid4().hex[:8]}"
    dockerfile = tmp_path / "Dockerfile.context"
    dockerfile.write_text(f"FROM {docker_image.tag}\nCOPY . /ctx/\n")
    docker("build", "-q", "-f", str(dockerfile), "-t", tag, str(ROOT), timeout=600)
    try:
        files = docker(
            "run", "--rm", "--entrypoint", "find", tag, "/ctx", "-mindepth", "1"
        ).stdout.split()  # fmt: skip
    finally:
        docker("rmi", "-f", tag, check=False)
    top = {path.split("/")[2] for path in files}
    assert top <= EXPECTED_APP_FILES | {"requirements.txt", "wheels"}, sorted(top)
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
