"""No pickle anywhere: the app's code never unpickles (torch.load, pickle, np.load with
allow_pickle=True), and every file in models/ is a well-formed safetensors file."""

from __future__ import annotations

import ast
import json
import struct
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PICKLE_MODULES = {"pickle", "_pickle", "cPickle", "dill", "cloudpickle", "joblib"}


def sources() -> list[Path]:
    files = [p for folder in ("lenet", "pages") for p in sorted((ROOT / folder).rglob("*.py"))]
    if (ROOT / "app.py").is_file():
        files.append(ROOT / "app.py")
    return files


def _dotted(node: ast.AST) -> str:
    """'np.load' for the expression np.load; '' when it is not a plain dotted name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return ""
    return ".".join([node.id, *reversed(parts)])


def pickle_uses(source: str) -> list[tuple[int, str]]:
    """(line, what) for every way the source could unpickle."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PICKLE_MODULES:
                    found.append((node.lineno, f"import {alias.name}"))
        elif isinstance(node, ast.ImportFrom):
            module = (node.module or "").split(".")[0]
            names = {alias.name for alias in node.names}
            if module in PICKLE_MODULES:
                found.append((node.lineno, f"from {node.module} import"))
            if module == "torch" and "load" in names:
                found.append((node.lineno, "from torch import load"))
        elif isinstance(node, ast.Attribute):
            name = _dotted(node)
            if name == "torch.load" or name.endswith(".read_pickle"):
                found.append((node.lineno, name))
            elif name.split(".")[0] in PICKLE_MODULES:
                found.append((node.lineno, name))
        elif isinstance(node, ast.Call) and _dotted(node.func) in ("np.load", "numpy.load"):
            for kw in node.keywords:
                if kw.arg == "allow_pickle" and not (
                    isinstance(kw.value, ast.Constant) and kw.value.value is False
                ):
                    found.append((node.lineno, "np.load(..., allow_pickle=True)"))
    return sorted(set(found))


@pytest.mark.parametrize(
    "snippet",
    [
        "import torch\nstate = torch.load('m.pt')",
        "import pickle",
        "import pickle as pk",
        "from pickle import loads",
        "x = pickle.loads(b'')",
        "import numpy as np\na = np.load('a.npz', allow_pickle=True)",
        "import numpy\na = numpy.load(\n    'a.npz',\n    allow_pickle=True,\n)",
        "from torch import load",
        "import joblib",
        "import pandas as pd\npd.read_pickle('x')",
    ],
)
def test_the_scanner_finds_pickle(snippet):
    assert pickle_uses(snippet), snippet


@pytest.mark.parametrize(
    "snippet",
    [
        '"""Checkpoints are safetensors (never pickle). No torch.load here."""',
        "# we do not use pickle.loads or torch.load",
        "import numpy as np\na = np.load('a.npz', allow_pickle=False)",
        "import numpy as np\na = np.load('a.npz')",
        "from safetensors.torch import load_file",
        "def unpickled(): pass",
    ],
)
def test_the_scanner_ignores_safe_code(snippet):
    assert pickle_uses(snippet) == []


def test_the_code_never_unpickles():
    files = sources()
    assert any(p.parent.name == "lenet" for p in files)  # the scan does see the code
    problems = []
    for path in files:
        try:
            uses = pickle_uses(path.read_text(encoding="utf-8"))
        except SyntaxError as e:  # cannot be checked, and cannot run either
            problems.append(f"{path.relative_to(ROOT)}:{e.lineno}: does not parse ({e.msg})")
            continue
        for line, what in uses:
            problems.append(f"{path.relative_to(ROOT)}:{line}: {what}")
    assert problems == [], "pickle-based loading found:\n" + "\n".join(problems)


def safetensors_problem(path: Path) -> str | None:
    """None when ``path`` starts with a valid safetensors header, else what is wrong."""
    raw = path.read_bytes()
    if len(raw) < 8:
        return "shorter than the 8-byte header length"
    (n,) = struct.unpack("<Q", raw[:8])
    if n == 0 or 8 + n > len(raw):
        return f"header length {n} does not fit in the {len(raw)}-byte file"
    try:
        header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        return f"header is not JSON ({e})"
    if not isinstance(header, dict):
        return "header is not a JSON object"
    end = 0
    for name, info in header.items():
        if name == "__metadata__":
            if not isinstance(info, dict) or not all(isinstance(v, str) for v in info.values()):
                return "__metadata__ is not a string-to-string map"
            continue
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= set(info):
            return f"tensor {name!r} lacks dtype, shape or data_offsets"
        start, stop = info["data_offsets"]
        if not 0 <= start <= stop:
            return f"tensor {name!r} has bad offsets {info['data_offsets']}"
        end = max(end, stop)
    if 8 + n + end != len(raw):
        return f"the tensors end at byte {8 + n + end}, the file at {len(raw)}"
    return None


def test_the_header_check_can_fail(tmp_path):
    good = tmp_path / "good.safetensors"
    from lenet.checkpoint import save_checkpoint
    from lenet.model import build_model

    save_checkpoint(build_model("classic"), good, {"a": 1})
    assert safetensors_problem(good) is None
    raw = good.read_bytes()
    cases = {
        "pickle": b"\x80\x04\x95" + raw[3:],  # a pickle's protocol bytes
        "truncated": raw[: len(raw) - 10],
        "not-json": raw[:8] + b"x" * (len(raw) - 8),
        "tiny": b"\x00",
    }
    for name, content in cases.items():
        bad = tmp_path / f"{name}.safetensors"
        bad.write_bytes(content)
        assert safetensors_problem(bad) is not None, name


def test_models_are_safetensors():
    paths = sorted((ROOT / "models").glob("*.safetensors"))
    if not paths:
        pytest.skip("no checkpoints in models/ yet (python -m lenet.train)")
    problems = [f"{p.name}: {why}" for p in paths if (why := safetensors_problem(p))]
    assert problems == []
    # and nothing pickle-shaped is shipped beside them
    pickles = [
        p.name
        for ext in ("pt", "pth", "pkl", "pickle", "ckpt")
        for p in (ROOT / "models").glob(f"*.{ext}")
    ]
    assert pickles == []
