"""The app's strings in English and Chinese, looked up by key.

Each language is one catalogue: the TOML files in ``lenet/i18n/<lang>/``, one per page
(``draw.toml``, ``pooling.toml``, ...) plus ``common.toml``. A file's name is the first
part of its keys: ``t("pooling.title")`` reads ``title`` from ``pooling.toml``. Both
languages must have exactly the same keys (a test checks it).

Strings may hold ``{name}`` fields, filled by ``translate(key, lang, name=...)``.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

LANGUAGES = {"en": "English", "zh": "中文"}
DEFAULT_LANGUAGE = "en"
_HERE = Path(__file__).resolve().parent


def _flatten(prefix: str, table: dict, out: dict[str, str]) -> None:
    for key, value in table.items():
        full = f"{prefix}.{key}"
        if isinstance(value, dict):
            _flatten(full, value, out)
        else:
            out[full] = value


@cache
def catalogue(lang: str) -> dict[str, str]:
    """Every string of one language, keyed ``<file>.<key>``."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; choose one of {', '.join(LANGUAGES)}")
    strings: dict[str, str] = {}
    for path in sorted((_HERE / lang).glob("*.toml")):
        with path.open("rb") as f:
            _flatten(path.stem, tomllib.load(f), strings)
    return strings


def normalise_language(value: object) -> str:
    """A supported language code from a query parameter or widget value."""
    code = str(value or "").strip().lower()[:2]
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


def translate(key: str, lang: str = DEFAULT_LANGUAGE, /, **fields: object) -> str:
    """The string for ``key`` in ``lang``; a missing key raises KeyError (caught by tests)."""
    text = catalogue(lang)[key]
    if isinstance(text, list):
        text = "\n".join(text)
    return text.format(**fields) if fields else text


def translate_list(key: str, lang: str = DEFAULT_LANGUAGE) -> list[str]:
    value = catalogue(lang)[key]
    return list(value) if isinstance(value, list) else [value]
