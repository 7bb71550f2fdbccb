"""The Docker engine for the image tests (tests/test_docker.py, tests/test_swarm.py): the
`docker` CLI, building the app and balancer images with docker/build.sh, running a
container on a free port until it is healthy. The session-scoped fixtures that build the
images once for the whole run are in tests/conftest.py."""

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

ROOT = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = ROOT / "docker" / "build.sh"
IN_CI = os.environ.get("CI", "").lower() == "true"
IMAGE_TAG = os.environ.get("LENET_DOCKER_TAG", "lenet5-app:pytest")
BUILD_TIMEOUT_S = float(os.environ.get("LENET_DOCKER_BUILD_TIMEOUT", 3600))
HEALTHY_TIMEOUT_S = float(os.environ.get("LENET_DOCKER_HEALTHY_TIMEOUT", 180))
LABEL = "org.lenet5.test=1"
BALANCER_TAG = os.environ.get("LENET_BALANCER_TAG", "lenet5-balancer:pytest")


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
    networks = docker("network", "ls", "-q", "--filter", f"label={LABEL}", check=False)
    for network in networks.stdout.split():
        docker("network", "rm", network, check=False)


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


def publish(port: int) -> tuple[str, str]:
    """`docker run` arguments that publish `port` on a free host port."""
    bind = "127.0.0.1" if _host_for_published_ports() == "127.0.0.1" else "0.0.0.0"
    return ("-p", f"{bind}::{port}")


def published_url(name: str, port: int) -> str:
    host_port = docker("port", name, f"{port}/tcp").stdout.split()[0].rsplit(":", 1)[1]
    return f"http://{_host_for_published_ports()}:{host_port}"


@contextmanager
def running_container(image: str, *run_args: str) -> Iterator[Container]:
    """`docker run` the image with port 8501 published on a free host port; always removed."""
    name = f"lenet5-test-{uuid.uuid4().hex[:10]}"
    try:
        docker("run", "-d", "--name", name, "--label", LABEL, *publish(8501), *run_args, image)
        yield Container(name=name, url=published_url(name, 8501))
    finally:
        docker("rm", "-f", name, check=False)


def _run_build(cmd: list[str], log_path: Path) -> float:
    """Run docker/build.sh with its output in log_path; seconds, or fail with the log's end."""
    start = time.monotonic()
    with open(log_path, "w") as log:
        try:
            result = subprocess.run(
                cmd, stdout=log, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"docker/build.sh took over {BUILD_TIMEOUT_S:.0f} s; log: {log_path}")
    if result.returncode != 0:
        tail = "\n".join(log_path.read_text().splitlines()[-40:])
        pytest.fail(f"docker/build.sh exited {result.returncode} (log: {log_path}):\n{tail}")
    return time.monotonic() - start


def build_app_image(tmp_dir: Path) -> Image:
    """The app image, built by docker/build.sh (the Debian stand-in base when python:3.11-slim
    cannot be pulled). Without app.py in the repo it builds a stub app: pipeline test only.
    Skips (fails under CI=true) when no engine answers."""
    problem = _engine_problem()
    if problem:
        if IN_CI:
            pytest.fail(f"CI=true needs a Docker engine, and none answers: {problem}")
        pytest.skip(f"no Docker engine can be reached: {problem}")
    _remove_stale_containers()

    stub = not (ROOT / "app.py").exists()
    if stub:
        warnings.warn("app.py does not exist yet: testing the image with a stub app", stacklevel=1)
    log_path = tmp_dir / "build.log"
    cmd = ["bash", str(BUILD_SCRIPT), "-t", IMAGE_TAG, *(["--stub-app"] if stub else [])]
    seconds = _run_build(cmd, log_path)
    size = int(docker("image", "inspect", "-f", "{{.Size}}", IMAGE_TAG).stdout.strip())
    return Image(tag=IMAGE_TAG, size_bytes=size, build_seconds=seconds, stub_app=stub)


def build_balancer_image(tmp_dir: Path) -> str:
    """The load balancer image (docker/nginx.Dockerfile: Debian's nginx on the app's base),
    built by `docker/build.sh --balancer`; its tag."""
    _run_build(
        ["bash", str(BUILD_SCRIPT), "--balancer", "-t", BALANCER_TAG],
        tmp_dir / "build-balancer.log",
    )
    return BALANCER_TAG
