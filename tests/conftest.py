"""Shared fixtures. Under CI=true a skipped test is a failed test: CI must run everything."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MNIST_ROOT = Path(os.environ.get("MNIST_ROOT", ROOT / "data" / "mnist"))
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where nothing may skip: {reason}"


def have_mnist() -> bool:
    from lenet.data import verify

    return verify(MNIST_ROOT)


@pytest.fixture(scope="session")
def mnist_test():
    """The real MNIST test set (CI downloads it with `python -m lenet.data download`)."""
    if not have_mnist():
        pytest.skip(f"the MNIST files are not in {MNIST_ROOT}: run `make data`")
    from lenet.data import load_mnist

    return load_mnist(MNIST_ROOT, "test")


@pytest.fixture(scope="module")
def chrome():
    """Headless Chromium for one test module (skips, failing under CI=true, without it)."""
    from lenet_testkit.browser import INSTALL_HINT, browser, chromium_path

    if chromium_path() is None:
        pytest.skip(INSTALL_HINT)
    with browser() as b:
        yield b


@pytest.fixture(scope="module")
def server():
    """The app on a free port for one test module; yields its base URL. The draw page is at
    "/" whatever an AppTest earlier in this process left in LENET_START_PAGE (server_env
    drops it)."""
    from lenet_testkit.browser import streamlit_server

    with streamlit_server() as url:
        yield url


# The Docker images are built once per run, for tests/test_docker.py and tests/test_swarm.py.


@pytest.fixture(scope="session")
def docker_image(tmp_path_factory):
    """The app image (tests/docker_engine.build_app_image)."""
    from tests.docker_engine import build_app_image

    return build_app_image(tmp_path_factory.mktemp("docker"))


@pytest.fixture(scope="session")
def docker_container(docker_image):
    """One container of the image, healthy, shared by the tests (removed at the end)."""
    from tests.docker_engine import running_container, wait_healthy

    with running_container(docker_image.tag) as container:
        wait_healthy(container)
        yield container


@pytest.fixture(scope="session")
def docker_app_url(docker_container) -> str:
    """Base URL of the app served by a healthy container, for browser tests."""
    return docker_container.url


@pytest.fixture(scope="session")
def balancer_image(docker_image, tmp_path_factory) -> str:
    """The load balancer image (tests/docker_engine.build_balancer_image)."""
    from tests.docker_engine import build_balancer_image

    return build_balancer_image(tmp_path_factory.mktemp("docker"))
