"""Tests for lenet.jobs: the background training the app's page uses. A tiny real job
(1,000 MNIST digits, one epoch) end to end, the FIFO queue with one job at a time,
cancel and stop (a stopped model keeps its last weights), the time limit, a loss that
becomes NaN, bad settings, sessions that end, and the caps on what is kept."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import numpy as np
import pytest
import torch

from lenet import jobs, train
from lenet.checkpoint import load_checkpoint, read_card, save_checkpoint
from lenet.evaluate import evaluate
from lenet.evaluate import main as evaluate_main
from tests.conftest import MNIST_ROOT, have_mnist

TINY = replace(train.PRESETS["quick"], train_size=1000, epochs=1)


@pytest.fixture(scope="module")
def mnist():
    if not have_mnist():
        pytest.skip(f"the MNIST files are not in {MNIST_ROOT}: run `make data`")
    return jobs.shared_mnist(MNIST_ROOT)


def wait(job: jobs.Job, states=jobs.FINISHED, timeout: float = 120.0) -> jobs.Job:
    deadline = time.monotonic() + timeout
    while job.state not in states:
        assert time.monotonic() < deadline, f"job still {job.state}"
        time.sleep(0.02)
    return job


class Gate:
    """load_data that holds every job at its start until the test opens the gate."""

    def __init__(self, data):
        self.data, self.open, self.entered = data, threading.Event(), threading.Semaphore(0)

    def __call__(self):
        self.entered.release()
        assert self.open.wait(60)
        return self.data


def runner(data, **limits) -> jobs.JobRunner:
    return jobs.JobRunner(lambda: data, jobs.Limits(**limits))


def test_a_tiny_job_trains_a_real_model_end_to_end(mnist, tmp_path):
    r = runner(mnist)
    job = wait(r.submit("s1", TINY, "quick"))
    assert job.state == jobs.DONE, job.error
    assert job.progress == 1.0
    assert job.reason is None
    # live curves and C1's kernels were recorded on the way
    assert len(job.train_curve) > 3 and len(job.heldout_curve) >= 2
    assert all(np.isfinite(loss) for _, loss in job.train_curve)
    assert job.kernels.shape == (6, 5, 5)
    torch.testing.assert_close(torch.from_numpy(job.kernels), job.model.c1.weight[:, 0].detach())
    # the result is what the model measures on the 10,000 test digits
    images, labels = mnist.arrays[2], mnist.arrays[3]
    measured = evaluate(job.model, images, labels)
    assert job.result["test_images"] == 10000
    assert measured["confusion_matrix"] == job.result["confusion_matrix"]
    assert job.result["test_accuracy"] > 0.3  # 8 batches of 1,000 digits: well above chance
    # a normal checkpoint: saved with its card, it loads and its card agrees
    path = tmp_path / "own.safetensors"
    save_checkpoint(job.model, path, job.card)
    assert read_card(path)["test_accuracy"] == job.result["test_accuracy"]
    assert read_card(path)["command"].startswith("python -m lenet.train --variant quick")
    assert load_checkpoint(path).config == job.model.config
    assert evaluate_main([str(path), "--data", str(MNIST_ROOT)]) == 0  # card agrees
    assert r.models("s1") == [job]


def test_the_card_command_retrains_the_same_settings():
    job = jobs.Job("j1", "s", 1, "quick", replace(TINY, pooling="avg", augment=True))
    args = jobs.job_args(job)
    parsed = train.parse_args([*args.argv, "--out", "x.safetensors"])
    assert parsed.settings == job.settings


def test_two_jobs_with_one_worker_queue_in_order(mnist):
    gate = Gate(mnist)
    r = jobs.JobRunner(gate, jobs.Limits(running=1))
    first = r.submit("s1", TINY, "quick")
    assert gate.entered.acquire(timeout=30)
    second = r.submit("s2", TINY, "quick")
    assert first.state == jobs.RUNNING
    assert second.state == jobs.QUEUED
    assert r.position(second) == 1 and r.position(first) == 0
    assert r.running_count() == 1 and r.queued_count() == 1
    gate.open.set()
    wait(first)
    wait(second)
    assert first.state == second.state == jobs.DONE
    assert second.started >= first.finished


def test_cancel_a_waiting_job_and_a_running_one(mnist):
    gate = Gate(mnist)
    r = jobs.JobRunner(gate, jobs.Limits(running=1))
    first = r.submit("s1", TINY, "quick")
    assert gate.entered.acquire(timeout=30)
    second = r.submit("s2", TINY, "quick")
    r.cancel(second)
    assert second.state == jobs.CANCELLED and r.position(second) == 0
    r.cancel(first)
    gate.open.set()
    wait(first)
    assert first.state == jobs.CANCELLED
    assert first.model is None and r.models("s1") == []


def test_stop_keeps_the_weights_learned_so_far(mnist):
    r = runner(mnist)
    job = r.submit("s1", replace(TINY, train_size=20000, epochs=3), "quick")
    deadline = time.monotonic() + 60
    while job.progress < 0.05:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    r.stop(job)
    wait(job)
    assert job.state == jobs.STOPPED and job.reason == "stopped"
    assert 0.05 <= job.progress < 1.0
    # the model is the network as it was when it stopped: its kernels are the last ones
    # recorded, and its accuracy is what it measures
    torch.testing.assert_close(torch.from_numpy(job.kernels), job.model.c1.weight[:, 0].detach())
    measured = evaluate(job.model, mnist.arrays[2], mnist.arrays[3])
    assert measured["test_accuracy"] == job.result["test_accuracy"]
    assert job.card["stopped"] == "stopped"
    assert r.models("s1") == [job]


def test_time_limit_stops_a_job_and_keeps_its_model(mnist):
    r = runner(mnist, time_limit_s=1.0)
    job = wait(r.submit("s1", replace(TINY, train_size=60000, epochs=5), "quick"))
    assert job.state == jobs.STOPPED and job.reason == "time_limit"
    assert job.model is not None and job.progress < 1.0
    assert job.elapsed < 30


def test_a_loss_that_becomes_nan_stops_the_job_with_a_message(mnist, monkeypatch):
    # Within the allowed learning rates LeNet-5 rather dies than overflows; an infinite
    # weight in F6 makes every logit, and so the loss, NaN at the first batch.
    real_setup = train.setup

    def setup_with_an_infinite_weight(*args, **kwargs):
        run = real_setup(*args, **kwargs)
        with torch.no_grad():
            run.model.f6.weight[0, 0] = float("inf")
        return run

    monkeypatch.setattr(train, "setup", setup_with_an_infinite_weight)
    r = runner(mnist)
    job = wait(r.submit("s1", TINY, "quick"))
    assert job.state == jobs.FAILED
    assert job.error == ("nan", {"step": 0})
    assert job.model is None and r.models("s1") == []


@pytest.mark.parametrize(
    "change, name",
    [
        ({"lr": 0.0}, "lr"),
        ({"lr": 1e9}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"train_size": 0}, "train_size"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 10**6}, "batch_size"),
        ({"pooling": "median"}, "pooling"),
    ],
)
def test_bad_settings_are_refused_with_their_name(change, name):
    r = jobs.JobRunner(lambda: pytest.fail("nothing may train"), jobs.Limits())
    with pytest.raises(train.SettingsError) as e:
        r.submit("s1", replace(TINY, **change), "quick")
    assert e.value.fields["name"] == name
    assert r.jobs("s1") == []


def test_missing_data_fails_the_job_with_the_download_command(tmp_path):
    r = jobs.JobRunner(lambda: jobs.shared_mnist(tmp_path), jobs.Limits())
    job = wait(r.submit("s1", TINY, "quick"))
    assert job.state == jobs.FAILED and job.error[0] == "data"
    assert "python -m lenet.data download" in job.error[1]["error"]
    assert not jobs.data_present(tmp_path)


def test_a_session_sees_only_its_own_models(mnist):
    r = runner(mnist)
    job = wait(r.submit("s1", TINY, "quick"))
    assert r.model("s1", job.id) is job
    assert r.model("s2", job.id) is None
    assert r.models("s2") == []


def test_a_session_keeps_its_last_three_models_and_the_server_its_cap(mnist):
    r = runner(mnist, models=4)
    mine = [wait(r.submit("s1", replace(TINY, seed=i), "quick")) for i in range(4)]
    assert r.models("s1") == mine[1:]
    others = [wait(r.submit("s2", replace(TINY, seed=i), "quick")) for i in range(2)]
    kept = r.models("s1") + r.models("s2")
    assert len(kept) == 4 and others[-1] in kept and mine[1] not in kept


def test_a_session_that_has_gone_loses_its_jobs(mnist, monkeypatch):
    alive = {"s1": True}
    r = jobs.JobRunner(lambda: mnist, jobs.Limits(), is_alive=lambda s: alive[s])
    job = wait(r.submit("s1", TINY, "quick"))
    alive["s1"] = False
    r.reap()  # gone, but within the grace period (a reconnect)
    assert r.models("s1") == [job]
    alive["s1"] = True
    r.reap()  # back: the grace period starts afresh next time
    alive["s1"] = False
    r.reap()
    assert r.models("s1") == [job]
    monkeypatch.setattr(jobs, "GONE_GRACE_S", 0.0)
    time.sleep(0.01)
    r.reap()
    assert r.jobs("s1") == [] and job.model is None


def test_a_session_may_have_two_jobs_waiting_or_training(mnist):
    gate = Gate(mnist)
    r = jobs.JobRunner(gate, jobs.Limits(running=1))
    first = r.submit("s1", TINY, "quick")
    second = r.submit("s1", replace(TINY, pooling="avg"), "quick")
    with pytest.raises(jobs.JobError) as e:
        r.submit("s1", TINY, "quick")
    assert e.value.key == "too_many"
    gate.open.set()
    assert wait(first).state == wait(second).state == jobs.DONE


def test_mnist_is_loaded_once_per_process_as_uint8(mnist):
    assert jobs.shared_mnist(MNIST_ROOT) is mnist
    images = mnist.arrays[0]
    assert images.dtype == np.uint8 and images.shape == (60000, 28, 28)


def test_a_session_that_has_gone_cancels_its_running_and_waiting_jobs(mnist, monkeypatch):
    gate = Gate(mnist)
    monkeypatch.setattr(jobs, "GONE_GRACE_S", 0.0)
    alive = {"s1": True, "s2": True}
    r = jobs.JobRunner(gate, jobs.Limits(running=1), is_alive=lambda s: alive[s])
    running = r.submit("s1", TINY, "quick")
    assert gate.entered.acquire(timeout=30)
    waiting = r.submit("s1", TINY, "quick")
    other = r.submit("s2", TINY, "quick")
    alive["s1"] = False
    r.reap()  # first sight of the gone session
    time.sleep(0.01)
    r.reap()
    assert waiting.state == jobs.CANCELLED
    gate.open.set()
    assert wait(running).state == jobs.CANCELLED and running.model is None
    assert wait(other).state == jobs.DONE  # the next session's job goes ahead
    r.reap()  # the next look (every REAP_EVERY_S s) forgets the gone session's jobs
    assert r.jobs("s1") == [] and r.models("s2") == [other]
