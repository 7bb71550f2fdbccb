"""The one renderer of the benchmarks: what each benchmark's ``run()`` returns (data: its
targets, tables as headers and rows, sentences; see ``bench.common.result``) becomes a
markdown section, and a run's sections become bench/RESULTS.md."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

from bench.common import Table


def fmt(x: float | None) -> str:
    if x is None:
        return "—"
    if isinstance(x, int):
        return f"{x:,}"
    if not math.isfinite(x):
        return str(x)
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def cell(v: object) -> str:
        return (fmt(v) if isinstance(v, int | float) else str(v)).replace("|", "\\|")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def ms_cells(s: dict | None, digits: int = 0, keys=("median_ms", "p95_ms")) -> list[str]:
    """A timing summary's median and p95 (or ``keys``) in ms as table cells; "—" without one."""
    return [f"{s[k]:.{digits}f}" if s else "—" for k in keys]


def target_row(t: dict) -> list[str]:
    """A target (``Target.to_dict()``) as cells: name, measured, limit, status, note."""
    sign = "≥" if t["higher_is_better"] else "≤"
    measured = "—" if t["measured"] is None else f"{fmt(t['measured'])} {t['unit']}".strip()
    status = f"**MISSED** ({measured})" if t["met"] is False else t["status"]
    limit = f"{sign} {fmt(t['limit'])} {t['unit']}".strip()
    return [t["name"], measured, limit, status, t["note"]]


def block(b: str | Table) -> str:
    return table(*b) if isinstance(b, Table) else str(b).strip()


def section(r: dict) -> str:
    """One benchmark's markdown section: title, targets table, then its body's blocks."""
    parts = [f"## {r['title']}"]
    if r["targets"]:
        headers = ["target", "measured", "limit", "status", "note"]
        parts.append(table(headers, [target_row(t) for t in r["targets"]]))
    parts += [block(b) for b in r["body"]]
    return "\n\n".join(p for p in parts if p) + "\n"


def machine_table(info: dict) -> str:
    load_avg = ", ".join(f"{x:g}" for x in info["load_average"])
    cores = f"{info['cores']} ({info['usable_cores']} usable by this process)"
    return table(
        ["machine", ""],
        [
            ["CPU", info["cpu"]],
            ["cores", cores],
            ["torch threads", info["torch_threads"]],
            ["RAM", f"{info['ram_gb']} GiB"],
            ["load average at start (1, 5, 15 min)", load_avg],
            ["CUDA", info["cuda"] or "no CUDA device"],
            ["Python / torch", f"{info['python']} / {info['torch']}"],
        ],
    )


def targets_summary(results: list[dict]) -> list[str]:
    """The table of every target of the run, and the count of met / missed / unmeasured."""
    rows = [[r["title"], *target_row(t)] for r in results for t in r["targets"]]
    missed = sum(row[4].startswith("**MISSED") or row[4] == "FAILED" for row in rows)
    met = sum(row[4] == "met" for row in rows)
    headers = ["benchmark", "target", "measured", "limit", "status", "note"]
    return [
        table(headers, rows),
        f"{met} met, {missed} missed or failed, {len(rows) - met - missed} not measured "
        f"(missing, skipped, failed or not run) of {len(rows)} targets.",
    ]


def kept_sections(old: str, titles: Sequence[str]) -> list[str]:
    """The sections of an earlier RESULTS.md with these titles, word for word: benchmarks
    that run on their own (bench.capacity takes minutes on a quiet machine) keep their
    last figures when run_all rewrites the file."""
    found = []
    for title in titles:
        start = old.find(f"\n## {title}\n")
        if start >= 0:
            end = old.find("\n## ", start + 1)
            found.append(old[start + 1 : end if end >= 0 else len(old)].strip())
    return found


def document(
    results: list[dict],
    info: dict,
    command: str,
    quick: bool,
    seconds: float,
    kept: Sequence[str] = (),
) -> str:
    """bench/RESULTS.md: the run's machine and command, every target, every section, then
    the ``kept`` sections of benchmarks run on their own."""
    when = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    settings = " (**quick settings**: few repeats, short load run; not for quoting)."
    parts = [
        "# Benchmark results",
        f"Written by `{command}` on {when} in {seconds / 60:.1f} min"
        + (settings if quick else "."),
        machine_table(info),
        "Benchmarks, not tests: every figure is a median over repeats (p95 where shown), and "
        "every comparison is measured side by side in the same run, interleaved. A target "
        "that is not met is marked **MISSED** with the number measured; targets are never "
        "loosened. Timings depend on what else the machine runs: see the load average above.",
        "## Targets",
        *targets_summary(results),
        *(section(r).strip() for r in results),
        *kept,
    ]
    return "\n\n".join(parts) + "\n"
