"""The training page under AppTest: both languages, a tiny real job from Start to the
result, the model in this session's checkpoint list (and not in another's), and the
messages for missing data and a failed download."""

from __future__ import annotations

import time

import pytest

import lenet.ui
from lenet import jobs, training_view
from lenet.evaluate import evaluate
from lenet_testkit.apptest import run_page, texts
from tests.conftest import MNIST_ROOT, have_mnist

PAGE = "pages/train.py"


@pytest.fixture(autouse=True)
def fresh_runner():
    """Each test starts with an empty job runner (it is shared by the whole process)."""
    lenet.ui.training_jobs.clear()
    yield
    lenet.ui.training_jobs.clear()


@pytest.fixture
def mnist():
    if not have_mnist():
        pytest.skip(f"the MNIST files are not in {MNIST_ROOT}: run `make data`")
    return jobs.shared_mnist(MNIST_ROOT)


def finished_job() -> jobs.Job:
    runner = lenet.ui.training_jobs()
    deadline = time.monotonic() + 120
    while not (mine := list(runner._jobs.values())) or mine[-1].state not in jobs.FINISHED:
        assert time.monotonic() < deadline, "the job did not finish"
        time.sleep(0.05)
    return mine[-1]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_page_opens_on_the_quick_preset(lang, mnist):
    at = run_page(PAGE, lang)
    assert not at.exception
    assert at.title[0].value == lenet.ui.translate("train.title", lang)
    assert at.radio(key="tr_preset").value == "quick"
    assert at.button(key="train_start").label == lenet.ui.translate("train.start", lang)
    # the widgets hold the quick preset's switches
    assert at.selectbox(key="tr_pooling").value == "max"
    assert at.select_slider(key="tr_train_size").value == 30000


def test_choosing_a_preset_sets_its_switches(mnist):
    at = run_page(PAGE)
    at.radio(key="tr_preset").set_value("lecun1998").run()
    assert not at.exception
    assert at.selectbox(key="tr_c3_table").value == "lecun"
    assert at.selectbox(key="tr_output").value == "rbf"
    assert at.number_input(key="tr_epochs").value == 24


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_tiny_job_from_start_to_the_result_and_the_sidebar(lang, mnist, monkeypatch):
    at = run_page(PAGE, lang)
    at.select_slider(key="tr_train_size").set_value(1000)
    at.button(key="train_start").click().run()
    assert not at.exception
    job = finished_job()
    assert job.state == jobs.DONE and job.settings.train_size == 1000
    at.run()
    assert not at.exception
    # the result: the metric is the accuracy the model measures on the 10,000 test digits
    measured = evaluate(job.model, mnist.arrays[2], mnist.arrays[3])["test_accuracy"]
    metric = at.metric[0]
    assert metric.label == lenet.ui.translate("train.test_accuracy", lang)
    assert metric.value == training_view.percent(measured)
    assert lenet.ui.translate(
        "train.confusion_caption", lang, n=job.result["misclassified"]
    ) in texts(at)
    # the model joins this session's checkpoint list, marked as the student's own
    own = lenet.ui.OWN_PREFIX + job.id
    own_label = lenet.ui.translate(
        "common.own_option", lang, number=job.number, accuracy=job.result["test_accuracy"]
    )
    # (AppTest drops the sidebar from its tree on a rerun: a fresh run of the page shows it)
    fresh = run_page(PAGE, lang)
    assert own_label in fresh.selectbox(key=f"{lenet.ui.CHECKPOINT_KEY}_widget").options
    assert fresh.metric[0].value == metric.value  # back on the page: the result is still there
    # "use it": the draw page then predicts with it
    at.button(key=f"tr_use_{job.id}").click().run()
    assert at.session_state[lenet.ui.CHECKPOINT_KEY] == own
    draw = run_page("pages/draw.py", lang, checkpoint=own)
    assert not draw.exception
    assert draw.session_state[lenet.ui.CHECKPOINT_KEY] == own
    # another session sees neither the model nor the result
    monkeypatch.setattr(lenet.ui, "session_id", lambda: "another session")
    other = run_page(PAGE, lang, checkpoint=own)
    assert not other.exception
    assert own_label not in other.selectbox(key=f"{lenet.ui.CHECKPOINT_KEY}_widget").options
    assert other.session_state[lenet.ui.CHECKPOINT_KEY] == lenet.ui.DEFAULT_CHECKPOINT
    assert not other.metric


def test_missing_data_offers_the_download_and_explains_a_failure(tmp_path, monkeypatch):
    monkeypatch.setenv("LENET_DATA_DIR", str(tmp_path / "mnist"))
    at = run_page(PAGE)
    assert not at.exception
    assert str(tmp_path / "mnist") in texts(at)
    assert "train_start" not in [b.key for b in at.button]

    def unreachable(root, **kwargs):
        from lenet.data import DownloadError

        raise DownloadError("could not download 4 MNIST file(s): mirror unreachable")

    monkeypatch.setattr("lenet.data.download", unreachable)
    at.button(key="tr_fetch").click().run()
    deadline = time.monotonic() + 30
    while jobs.fetch_status().state == "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    at.run()
    assert not at.exception
    shown = texts(at)
    assert "mirror unreachable" in shown
    assert f"python -m lenet.data download --root {tmp_path / 'mnist'}" in shown
