"""Training jobs in the background, for the app's training page (no Streamlit here).

One server process, many students: a ``JobRunner`` trains at most ``LENET_TRAIN_JOBS``
networks at once (default 1) in worker threads, each with ``lenet.train``'s own loop
(``setup`` + ``train_epochs``); further jobs wait in a FIFO queue whose position the page
shows and which can be cancelled. A job stops at its time limit
(``LENET_TRAIN_TIME_LIMIT`` seconds, default 300) or when the student presses Stop,
keeping the weights learned so far; a loss that becomes NaN ends it with a message.

Why threads, not processes: a worker process would load torch and MNIST again (about
300 MB more, against the 600 MB the server may use), and with torch at one thread (the app
sets ``torch.set_num_threads(1)``) a thread's tensor work releases the GIL; the worker
also lowers its own scheduling priority (``nice``), so that the forward passes of the
other sessions' strokes go first (bench/ measures it).

Memory is bounded: MNIST is loaded once per process as uint8 (``shared_mnist``), padded
batch by batch; a job keeps one small network and curves of at most a few hundred
points; each session keeps its last ``MODELS_PER_SESSION`` models and the server at most
``LENET_TRAIN_MAX_MODELS``. A session that has gone (``is_alive`` says so for longer than
``GONE_GRACE_S``) loses its jobs; results nobody has looked at for ``RESULT_TTL_S`` are
dropped.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import threading
import time
import types
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from lenet import train
from lenet.evaluate import predict_padded
from lenet.model import LeNet5
from lenet.preprocess import pad_unit

log = logging.getLogger(__name__)

MODELS_PER_SESSION = 3
ACTIVE_PER_SESSION = 2  # waiting or training: two settings to compare, one after the other
GONE_GRACE_S = 120.0  # a session may reconnect within this (a network blip, a restart)
REAP_EVERY_S = 15.0
RESULT_TTL_S = 3600.0
HELDOUT = 1000  # test digits for the live held-out curve (the final figure uses all)
CURVE_POINTS = 200  # at most this many points a curve, whatever the run's length
HELDOUT_POINTS = 40
NICE = 10
DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "mnist"

QUEUED, RUNNING, DONE, STOPPED, FAILED, CANCELLED = (
    "queued",
    "running",
    "done",
    "stopped",
    "failed",
    "cancelled",
)
FINISHED = (DONE, STOPPED, FAILED, CANCELLED)


def _env_number(name: str, default: float, low: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return max(value, low)


@dataclass(frozen=True)
class Limits:
    """The server's limits, from the environment (the Dockerfile documents them)."""

    running: int = 1  # LENET_TRAIN_JOBS: jobs that train at once
    queued: int = 20  # LENET_TRAIN_QUEUE: jobs that may wait
    time_limit_s: float = 300.0  # LENET_TRAIN_TIME_LIMIT: a job stops after this
    models: int = 30  # LENET_TRAIN_MAX_MODELS: trained models kept server-wide

    @classmethod
    def from_env(cls) -> Limits:
        return cls(
            running=int(_env_number("LENET_TRAIN_JOBS", 1, 1)),
            queued=int(_env_number("LENET_TRAIN_QUEUE", 20, 0)),
            time_limit_s=_env_number("LENET_TRAIN_TIME_LIMIT", 300.0, 1.0),
            models=int(_env_number("LENET_TRAIN_MAX_MODELS", 30, 1)),
        )


class JobError(ValueError):
    """A job cannot be queued; ``key`` names the page's message (``train.error.<key>``)."""

    def __init__(self, key: str, message: str, **fields: object):
        super().__init__(message)
        self.key, self.fields = key, fields


# --- MNIST, once per process -----------------------------------------------------------


@dataclass(frozen=True)
class SharedMnist:
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # uint8; never written
    sha256: dict


_MNIST: dict[Path, SharedMnist] = {}
_MNIST_LOCK = threading.Lock()


def data_dir() -> Path:
    """Where the app looks for MNIST: ``LENET_DATA_DIR``, default data/mnist."""
    return Path(os.environ.get("LENET_DATA_DIR") or DATA_DIR)


def data_present(root: Path | None = None) -> bool:
    """Whether the four MNIST files are there (cheap: names only, not checksums)."""
    from lenet.data import ALL_FILES, find_file

    root = root or data_dir()
    return all(find_file(root, name) is not None for name in ALL_FILES)


def shared_mnist(root: Path | None = None) -> SharedMnist:
    """The four MNIST arrays and their checksums, read once per process and shared by
    every job (raises lenet.data.MnistError naming what is missing)."""
    from lenet.data import dataset_sha256, load_mnist

    root = Path(root or data_dir()).resolve()
    with _MNIST_LOCK:
        if root not in _MNIST:
            arrays = (*load_mnist(root, "train"), *load_mnist(root, "test"))
            _MNIST[root] = SharedMnist(arrays, dataset_sha256(root))
        return _MNIST[root]


# --- One job ---------------------------------------------------------------------------


@dataclass(eq=False)
class Job:
    """One training request and what it has produced so far. The worker thread writes
    it; the page reads it (single attributes and appended lists: safe under the GIL)."""

    id: str
    session: str
    number: int  # the session's n-th job: "your model #n"
    preset: str
    settings: train.TrainSettings
    state: str = QUEUED
    submitted: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    seen: float = field(default_factory=time.monotonic)  # the session last looked
    progress: float = 0.0  # 0..1
    train_curve: list = field(default_factory=list)  # (epochs, mean training loss)
    heldout_curve: list = field(default_factory=list)  # (epochs, held-out accuracy)
    kernels: np.ndarray | None = None  # C1's (6, 5, 5) kernels, as they learn
    reason: str | None = None  # why it ended early: stopped | time_limit
    error: tuple[str, dict] | None = None  # (message key, fields) when it failed
    result: dict | None = None  # accuracy, confusion matrix... on the test digits
    model: LeNet5 | None = None
    card: dict | None = None
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _discard: bool = False

    @property
    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or time.monotonic()) - self.started

    @property
    def remaining(self) -> float | None:
        """Seconds left, from the pace so far (None until there is a pace)."""
        if self.state != RUNNING or self.progress < 0.02:
            return None
        return self.elapsed * (1 - self.progress) / self.progress

    @property
    def label(self) -> str:
        return f"#{self.number}"


def job_args(job: Job) -> types.SimpleNamespace:
    """The card's view of a job: the settings by name and the equivalent command."""
    s = job.settings
    default = train.PRESETS[job.preset]
    argv = ["--variant", job.preset]
    for name, value in asdict(s).items():
        if value != getattr(default, name):
            flag = "--" + name.replace("_", "-")
            if name == "augment":
                argv.append("--augment" if value else "--no-augment")
            else:
                argv += [flag, str(value)]
    return types.SimpleNamespace(**asdict(s), variant=job.preset, argv=argv, dry_run=False)


class _Monitor:
    """The job's hooks into the training loop: progress, curves, C1's kernels, Stop and
    the time limit (both end the run through TrainingStopped, keeping the weights)."""

    def __init__(self, job: Job, run: train.Run, heldout, deadline: float):
        self.job, self.run, self.deadline = job, run, deadline
        self.heldout_x, self.heldout_y = heldout
        total = run.total_steps
        self.curve_every = max(1, total // CURVE_POINTS)
        self.heldout_every = max(1, total // HELDOUT_POINTS)
        self.last_result: dict | None = None

    def batch(self, done: int, images: int, loss: float) -> None:
        job, run = self.job, self.run
        if job._stop.is_set():
            raise train.TrainingStopped("stopped")
        if time.monotonic() > self.deadline:
            raise train.TrainingStopped("time_limit")
        step = run.epoch * run.steps_per_epoch + done
        epochs = step / run.steps_per_epoch
        job.progress = step / run.total_steps
        if step % self.curve_every == 0 or step == run.total_steps:
            job.train_curve.append((epochs, loss))
        if step % self.heldout_every == 0 or step == run.total_steps or step == 1:
            self.snapshot(epochs)

    def snapshot(self, epochs: float) -> None:
        model = self.run.model
        preds = predict_padded(model, self.heldout_x, batch_size=500)
        model.train()
        self.job.heldout_curve.append((epochs, float((preds == self.heldout_y).mean())))
        self.job.kernels = model.c1.weight.detach()[:, 0].cpu().numpy().copy()

    def epoch(self, run: train.Run, result: dict) -> None:
        self.last_result = result


def _lower_priority() -> None:
    """Let the other sessions' work go first: nice this thread (Linux: per thread)."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)


# --- The runner ------------------------------------------------------------------------


class JobRunner:
    """Queue, worker threads and the trained models of every session of one server."""

    def __init__(
        self,
        load_data: Callable[[], SharedMnist] = shared_mnist,
        limits: Limits | None = None,
        is_alive: Callable[[str], bool] | None = None,
    ):
        self.load_data, self.limits, self.is_alive = (
            load_data,
            limits or Limits.from_env(),
            is_alive,
        )
        self._lock = threading.Lock()
        self._queue: deque[Job] = deque()
        self._running: set[Job] = set()
        self._jobs: dict[str, Job] = {}
        self._gone_since: dict[str, float] = {}
        self._ids = itertools.count(1)
        self._numbers: dict[str, int] = {}
        self._reaper: threading.Thread | None = None

    # -- what a session asks for --

    def submit(self, session: str, settings: train.TrainSettings, preset: str = "quick") -> Job:
        """Queue a job (raises SettingsError for bad settings, JobError when the session
        already has one waiting or training, or the queue is full)."""
        settings.validate()
        if preset not in train.PRESETS:
            raise JobError("preset", f"unknown preset {preset!r}", preset=preset)
        self.reap()
        with self._lock:
            active = [j for j in self._jobs.values() if j.session == session]
            if sum(j.state in (QUEUED, RUNNING) for j in active) >= ACTIVE_PER_SESSION:
                raise JobError(
                    "too_many",
                    "this session already has jobs waiting or training",
                    limit=ACTIVE_PER_SESSION,
                )
            if len(self._queue) >= self.limits.queued and len(self._running) >= self.limits.running:
                raise JobError("queue_full", "the training queue is full", size=len(self._queue))
            self._numbers[session] = number = self._numbers.get(session, 0) + 1
            job = Job(f"j{next(self._ids)}", session, number, preset, settings)
            self._jobs[job.id] = job
            self._queue.append(job)
            self._start_ready()
            if self._reaper is None:
                self._reaper = threading.Thread(target=self._reap_forever, daemon=True)
                self._reaper.start()
        return job

    def _reap_forever(self) -> None:
        """Sessions end without telling anyone: look every REAP_EVERY_S seconds."""
        while True:
            time.sleep(REAP_EVERY_S)
            try:
                self.reap()
            except Exception:  # noqa: BLE001 - keep reaping
                log.exception("reaping training jobs failed")

    def position(self, job: Job) -> int:
        """1 for the next job to start, 2 after it...; 0 when not waiting."""
        with self._lock:
            return next((i + 1 for i, j in enumerate(self._queue) if j is job), 0)

    def stop(self, job: Job) -> None:
        """Stop a running job, keeping what it has learned (a waiting one is cancelled)."""
        with self._lock:
            if job.state == QUEUED:
                self._cancel_queued(job)
        job._stop.set()

    def cancel(self, job: Job) -> None:
        """Cancel a job: removed from the queue, or stopped with its weights discarded."""
        job._discard = True
        self.stop(job)

    def jobs(self, session: str) -> list[Job]:
        """This session's jobs, oldest first (marks them as seen)."""
        now = time.monotonic()
        with self._lock:
            mine = [j for j in self._jobs.values() if j.session == session]
        for j in mine:
            j.seen = now
        return sorted(mine, key=lambda j: j.number)

    def models(self, session: str) -> list[Job]:
        """This session's finished jobs that hold a model, oldest first."""
        return [j for j in self.jobs(session) if j.model is not None]

    def model(self, session: str, job_id: str) -> Job | None:
        """The session's job ``job_id`` if it holds a model; another session's is None."""
        job = self._jobs.get(job_id)
        if job is None or job.session != session or job.model is None:
            return None
        job.seen = time.monotonic()
        return job

    def end_session(self, session: str) -> None:
        """A session has gone: cancel its jobs and free its models."""
        with self._lock:
            mine = [j for j in self._jobs.values() if j.session == session]
        for job in mine:
            self.cancel(job)
            job.model = None
        with self._lock:
            for job in mine:
                if job.state in FINISHED:
                    self._jobs.pop(job.id, None)

    def reap(self) -> None:
        """Drop the jobs of sessions that have gone and results nobody claimed."""
        now = time.monotonic()
        with self._lock:
            sessions = {j.session for j in self._jobs.values()}
            stale = [
                j
                for j in self._jobs.values()
                if j.state in FINISHED and now - j.seen > RESULT_TTL_S
            ]
            for j in stale:
                self._jobs.pop(j.id, None)
        if self.is_alive is None:
            return
        for session in sessions:
            if self.is_alive(session):
                self._gone_since.pop(session, None)
            elif now - self._gone_since.setdefault(session, now) >= GONE_GRACE_S:
                self.end_session(session)  # again at each look while jobs still end
        for session in set(self._gone_since) - sessions:
            del self._gone_since[session]

    def running_count(self) -> int:
        with self._lock:
            return len(self._running)

    def queued_count(self) -> int:
        with self._lock:
            return len(self._queue)

    # -- the workers --

    def _cancel_queued(self, job: Job) -> None:
        with contextlib.suppress(ValueError):
            self._queue.remove(job)
        job.state, job.finished = CANCELLED, time.monotonic()

    def _start_ready(self) -> None:
        """Start waiting jobs while there is room (holding the lock)."""
        while self._queue and len(self._running) < self.limits.running:
            job = self._queue.popleft()
            self._running.add(job)
            job.state, job.started = RUNNING, time.monotonic()
            worker = threading.Thread(target=self._work, args=(job,), name=f"lenet-train-{job.id}")
            worker.daemon = True
            worker.start()

    def _work(self, job: Job) -> None:
        _lower_priority()
        try:
            self._train(job)
        except train.LossNotFinite as e:
            job.error = ("nan", {"step": e.step})
        except train.SettingsError as e:
            job.error = (e.key, e.fields)
        except ValueError as e:  # lenet.data.MnistError: files missing or corrupt
            job.error = ("data", {"error": str(e)})
        except Exception as e:  # noqa: BLE001 - the page says so; the server goes on
            log.exception("training job %s failed", job.id)
            job.error = ("internal", {"error": f"{type(e).__name__}: {e}"})
        finally:
            if job._discard:
                job.model = None
            job.state = self._final_state(job)
            job.finished = time.monotonic()
            with self._lock:
                self._running.discard(job)
                self._keep_models_within_limits(job.session)
                self._start_ready()

    @staticmethod
    def _final_state(job: Job) -> str:
        if job._discard:
            return CANCELLED
        if job.error is not None:
            return FAILED
        return STOPPED if job.reason else DONE

    def _train(self, job: Job) -> None:
        data = self.load_data()
        run = train.setup(job.settings, data.arrays, sha256=data.sha256)
        test_images, test_labels = data.arrays[2], data.arrays[3]
        heldout = (pad_unit(test_images[-HELDOUT:]), test_labels[-HELDOUT:])
        monitor = _Monitor(job, run, heldout, time.monotonic() + self.limits.time_limit_s)
        try:
            train.train_epochs(run, on_batch=monitor.batch, on_epoch=monitor.epoch)
        except train.TrainingStopped as e:
            job.reason = e.reason
        if job._discard:
            return
        mid_epoch = job.reason is not None or monitor.last_result is None
        result = train.evaluate_run(run) if mid_epoch else monitor.last_result
        monitor.snapshot(run.step / run.steps_per_epoch)
        if job.reason:  # stopped within an epoch: the time it trained, all told
            run.seconds = job.elapsed
        job.card = train.make_card(
            job_args(job), run.model, result, run.history, run.seconds, run.sha256
        )
        job.card["stopped"] = job.reason
        job.result, job.model = result, run.model.eval()
        job.progress = 1.0 if job.reason is None else job.progress

    def _keep_models_within_limits(self, session: str) -> None:
        """Each session keeps its last MODELS_PER_SESSION models (and of its jobs that
        ended without one, the last), the server its last ``limits.models`` (holding the
        lock)."""
        mine = sorted(
            (j for j in self._jobs.values() if j.session == session), key=lambda j: j.number
        )
        with_model = [j for j in mine if j.model is not None]
        without = [j for j in mine if j.model is None and j.state in FINISHED]
        for job in with_model[:-MODELS_PER_SESSION] + without[:-1]:
            self._jobs.pop(job.id, None)
        with_model = sorted(
            (j for j in self._jobs.values() if j.model is not None), key=lambda j: j.finished or 0
        )
        for job in with_model[: max(0, len(with_model) - self.limits.models)]:
            self._jobs.pop(job.id, None)


# --- Fetching MNIST on first use -------------------------------------------------------

# Uncompressed sizes of the four files: the weights of their parts of the progress bar.
_FILE_BYTES = {
    "train-images-idx3-ubyte": 47_040_016,
    "train-labels-idx1-ubyte": 60_008,
    "t10k-images-idx3-ubyte": 7_840_016,
    "t10k-labels-idx1-ubyte": 10_008,
}


@dataclass
class DataFetch:
    """The one download of MNIST a server process runs (``python -m lenet.data download``'s
    function, in a thread), shared by every session that asks for it."""

    state: str = "idle"  # idle | running | done | failed
    parts: dict = field(default_factory=dict)  # file name -> fraction fetched
    error: str | None = None

    @property
    def fraction(self) -> float:
        total = sum(_FILE_BYTES.values())
        return sum(_FILE_BYTES.get(n, 0) * f for n, f in list(self.parts.items())) / total

    def on_bytes(self, name: str, done: int, total: int | None) -> None:
        self.parts[name.removesuffix(".gz")] = min(1.0, done / total) if total else 0.0


_FETCH = DataFetch()
_FETCH_LOCK = threading.Lock()


def fetch_status() -> DataFetch:
    return _FETCH


def start_fetch(root: Path | None = None, download: Callable | None = None) -> DataFetch:
    """Start fetching MNIST into ``root`` unless a fetch is under way; returns its status.
    ``download`` is lenet.data.download (tests pass their own sources through it)."""
    global _FETCH
    with _FETCH_LOCK:
        if _FETCH.state == "running":
            return _FETCH
        _FETCH = status = DataFetch(state="running")
    if download is None:
        from lenet.data import download

    def work() -> None:
        try:
            download(root or data_dir(), progress=False, on_bytes=status.on_bytes)
        except Exception as e:  # noqa: BLE001 - DownloadError, a read-only folder...
            status.error, status.state = f"{type(e).__name__}: {e}", "failed"
            return
        status.parts = dict.fromkeys(_FILE_BYTES, 1.0)
        status.state = "done"

    threading.Thread(target=work, name="lenet-mnist-download", daemon=True).start()
    return status
