"""Shared pieces of the benchmarks: statistics, targets, results, machine facts, and a
Streamlit server whose process (RSS) the benchmarks can read and restart."""

from __future__ import annotations

import io
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

from lenet.checkpoint import models_dir

ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = models_dir()  # $LENET_MODELS_DIR, default models/ (lenet.checkpoint)
DATA_DIR = ROOT / "data" / "mnist"
VARIANTS = ("classic", "modern", "lecun1998")


# ----------------------------------------------------------------------------- statistics


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else math.nan


def p95(values: Sequence[float]) -> float:
    """Nearest-rank 95th percentile (never below the median)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return float(ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)])


def summary(values_s: Sequence[float]) -> dict | None:
    """Median and p95 in milliseconds of durations given in seconds (None: no durations)."""
    if not values_s:
        return None
    ms = [v * 1e3 for v in values_s]
    return {"n": len(ms), "median_ms": median(ms), "p95_ms": p95(ms), "min_ms": min(ms)}


@contextmanager
def torch_threads(n: int | None):
    """Torch's threads set to ``n`` (None: left as they are) inside the block."""
    import torch

    saved = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def time_calls(fn, calls: int, warmup: int = 3, cpu: bool = False):
    """Seconds of ``fn(i)`` for i = 0 .. warmup + calls - 1, the first ``warmup`` calls not
    counted. ``cpu``: also the process's CPU seconds per call (on a machine shared with
    other jobs it shows how much of the wall time was spent waiting for a core); then
    returns (wall, cpu)."""
    wall, used = [], []
    for i in range(calls + warmup):
        c0 = time.process_time() if cpu else 0.0
        t0 = time.perf_counter()
        fn(i)
        t1 = time.perf_counter()
        if i >= warmup:
            wall.append(t1 - t0)
            if cpu:
                used.append(time.process_time() - c0)
    return (wall, used) if cpu else wall


# ----------------------------------------------------------------------------- targets


@dataclass
class Target:
    """One target: ``measured`` compared with ``limit`` (lower is better unless
    ``higher_is_better``). ``measured=None`` means it could not be measured (``note``
    says why)."""

    name: str
    measured: float | None
    limit: float
    unit: str
    higher_is_better: bool = False
    note: str = ""
    unmeasured: str = "not measured"  # the status when measured is None, e.g. "missing"

    @property
    def met(self) -> bool | None:
        if self.measured is None or not math.isfinite(self.measured):
            return None
        if self.higher_is_better:
            return self.measured >= self.limit
        return self.measured <= self.limit

    @property
    def status(self) -> str:
        return {True: "met", False: "MISSED", None: self.unmeasured}[self.met]

    def to_dict(self) -> dict:
        return {**asdict(self), "met": self.met, "status": self.status}


class Table(NamedTuple):
    """A table of a benchmark's section: column headers and rows of cells (numbers are
    formatted by bench.report)."""

    headers: Sequence[str]
    rows: Sequence[Sequence[object]]


def result(
    name: str, title: str, body: str | Sequence[str | Table], targets: Sequence[Target], **data
) -> dict:
    """What every benchmark's run() returns: its targets, the blocks of its section (tables
    and sentences, in order; bench.report renders them) and its numbers."""
    return {
        "name": name,
        "title": title,
        "targets": [t.to_dict() for t in targets],
        "body": [body] if isinstance(body, str | Table) else list(body),
        **data,
    }


def skipped(name: str, title: str, why: str, targets: Sequence[Target] = ()) -> dict:
    for t in targets:
        t.note = t.note or why
    return result(name, title, [f"Skipped: {why}"], targets, skipped=why)


# ----------------------------------------------------------------------------- command line


def cli(run, quick: dict, argv: list[str] | None = None) -> dict:
    """``python -m bench.<name>``: run() with its defaults (make bench's settings), or with
    ``quick`` under --quick; each keyword of run() that takes a number, a string, a path or
    a tuple of strings is an option (``--fragment-calls 10``), a ``dict[str, Path]`` a
    repeatable ``--checkpoints VARIANT=PATH``. Prints the section, returns the result."""
    import argparse
    import inspect

    from bench.report import section

    doc = sys.modules[run.__module__].__doc__ or ""
    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"quick settings: {quick}")
    for name, p in inspect.signature(run).parameters.items():
        kind = str(p.annotation)
        flag = "--" + name.replace("_", "-")
        if "dict[str, Path]" in kind:
            parser.add_argument(flag, action="append", metavar="VARIANT=PATH")
        elif isinstance(p.default, bool) or "bool" in kind:
            parser.add_argument(flag, type=lambda v: v.lower() in ("1", "true", "yes"))
        elif isinstance(p.default, tuple):
            parser.add_argument(flag, nargs="+", help=f"default: {' '.join(p.default)}")
        elif isinstance(p.default, int | float | str) or any(
            t in kind for t in ("int", "float", "str", "Path")
        ):
            convert = float if "float" in kind else int if "int" in kind else str
            parser.add_argument(flag, type=convert, help=f"default: {p.default}")
    given = {k: v for k, v in vars(parser.parse_args(argv)).items() if v is not None}
    settings = {**(quick if given.pop("quick") else {}), **given}
    for name, value in settings.items():
        if isinstance(value, list) and value and "=" in value[0]:
            settings[name] = {k: Path(v) for k, _, v in (item.partition("=") for item in value)}
        elif isinstance(value, list):
            settings[name] = tuple(value)
    out = run(**settings)
    print(section(out))
    return out


# ----------------------------------------------------------------------------- machine


def machine() -> dict:
    import torch

    cpuinfo = Path("/proc/cpuinfo").read_text()
    cpu = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    ram_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")  # MemTotal
    return {
        "cpu": cpu.group(1).strip() if cpu else platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "torch_threads": torch.get_num_threads(),
        "ram_gb": round(ram_bytes / 2**30, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def proc_mb(pid: int, field: str = "VmRSS") -> float | None:
    """A process's memory from /proc/<pid>/status in MB (1 MB = 2**20 bytes): VmRSS, the
    resident set, or VmHWM, its peak."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


def thumbnail_png(image) -> bytes:
    """The PNG that st.image sends of ``lenet.viz.thumbnail(image, 140)``, as the pages show
    a digit."""
    from PIL import Image

    from lenet.viz import thumbnail

    buffer = io.BytesIO()
    Image.fromarray(thumbnail(image, 140)).save(buffer, format="PNG")
    return buffer.getvalue()


def checkpoint_path(variant: str, models_dir: Path = MODELS_DIR) -> Path:
    return Path(models_dir) / f"lenet5-{variant}.safetensors"


# ----------------------------------------------------------------------------- browser


def chromium_missing() -> str | None:
    """Why the browser benchmarks cannot run, or None when they can."""
    from lenet_testkit.browser import INSTALL_HINT, chromium_path

    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (`make test` installs it)"
    return INSTALL_HINT if chromium_path() is None else None


def app_checkpoint_missing() -> str | None:
    if not any(MODELS_DIR.glob("*.safetensors")):
        return f"no checkpoint in {MODELS_DIR}: run `make train`"
    return None


class Server:
    """The app (`python -m lenet.server`) on 127.0.0.1, with the process at hand: its RSS
    can be read, and it can be killed and started again on the same port."""

    def __init__(self, args: Sequence[str] = (), root: Path = ROOT):
        from lenet_testkit.browser import free_port

        self.root = Path(root)  # another checkout (e.g. a git worktree of an older commit)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = list(args)
        self.proc: subprocess.Popen | None = None
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-streamlit-{self.port}.log"

    def start(self) -> float:
        """Start the server; returns the seconds until it answered its health check."""
        from lenet_testkit.browser import start_server

        started = time.perf_counter()
        args = ("--server.address", "127.0.0.1", *self.args)
        self.proc = start_server(self.port, None, args, self.root, self.log_path, 90.0)
        return time.perf_counter() - started

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        from lenet_testkit.browser import stop_server

        if self.proc is not None and self.proc.poll() is None:
            stop_server(self.proc)

    def rss_mb(self, field: str = "VmRSS") -> float | None:
        """Its resident memory (MB); ``field="VmHWM"``: the peak."""
        return proc_mb(self.proc.pid, field) if self.proc is not None else None

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# JavaScript for timing a stroke inside the page: the capturing mouseup listener records
# when the browser delivered the mouse-up; the observer records when the prediction
# container first shows a value. Both on performance.now(), so no Python polling delay.
ARM_JS = """() => {
  const sel = '.st-key-prediction [data-testid="stMetricValue"]';
  if (window.__benchObserver) window.__benchObserver.disconnect();
  window.__benchUp = null;
  window.__benchPred = null;
  if (!window.__benchUpListener) {
    window.__benchUpListener = true;
    window.addEventListener('mouseup', () => { window.__benchUp = performance.now(); }, true);
  }
  const check = () => {
    const el = document.querySelector(sel);
    const text = el ? el.textContent.trim() : '';
    if (text && window.__benchPred === null) {
      window.__benchPred = {t: performance.now(), value: text};
      window.__benchObserver.disconnect();
    }
  };
  window.__benchObserver = new MutationObserver(check);
  window.__benchObserver.observe(document.body,
    {subtree: true, childList: true, characterData: true});
  check();
}"""
DONE_JS = "() => window.__benchPred !== null"
READ_JS = "() => ({up: window.__benchUp, pred: window.__benchPred})"
ERROR_JS = "() => document.querySelectorAll('[data-testid=\"stException\"]').length"

# Single-stroke digits only: the time runs from the one mouse-up to the prediction.
STROKE_DIGITS = (0, 1, 2, 3, 7)
