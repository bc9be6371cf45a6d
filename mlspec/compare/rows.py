"""Comparison tables as header + rows of text, and the number formats every output format shares."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

from mlspec.compare.tables import Cell, PlatformComparison, RunsTable


def fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    if s >= 3600:
        return f"{s / 3600:.2f} h"
    if s >= 100:
        return f"{s:.0f}"
    return f"{s:.2f}" if s < 10 else f"{s:.1f}"


def fmt_usd(usd: float | None) -> str:
    if usd is None:
        return "-"
    if usd == 0:
        return "0"
    if abs(usd) >= 1:
        return f"{usd:.2f}"
    digits = max(2, 2 - math.floor(math.log10(abs(usd))))
    return f"{usd:.{min(digits, 8)}f}"


def fmt_pct(p: float | None) -> str:
    return "-" if p is None else f"{p:+.1f}%"


def fmt_value(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _cell_text(
    cell: Cell | None,
    value: Callable[[Cell], float | None],
    fmt: Callable[[float | None], str],
    mark: Callable[[Cell], bool],
    mark_text: str,
    bold: tuple[str, str],
) -> str:
    if cell is None:
        return "-"
    v = value(cell)
    if v is None:
        return "n/a"
    text = fmt(v)
    return f"{bold[0]}{text}{bold[1]} {mark_text}" if mark(cell) else text


def platform_rows(
    data: PlatformComparison,
    what: Literal["time", "cost"],
    bold: tuple[str, str] = ("", ""),
) -> tuple[list[str], list[list[str]]]:
    """The paper's layout: one row per task, one column per platform (+ accuracy on the time table)."""
    header = ["task"] + [f"{p.id} ({p.caption})" for p in data.platforms]
    if what == "time":
        header.append("accuracy (measured)")
    rows = []
    for t in data.tasks:
        row = [f"{t.name}: {t.title}"]
        for p in data.platforms:
            cell = t.cells.get(p.id)
            if what == "time":
                row.append(_cell_text(cell, lambda c: c.time_s, fmt_time, lambda c: c.fastest, "(fastest)", bold))
            else:
                row.append(_cell_text(cell, lambda c: c.cost_usd, fmt_usd, lambda c: c.cheapest, "(cheapest)", bold))
        if what == "time":
            row.append("-" if t.accuracy is None else f"{t.accuracy:.4f}")
        rows.append(row)
    return header, rows


def platform_rows_transposed(data: PlatformComparison) -> tuple[list[str], list[list[str]]]:
    """For narrow terminals: one row per platform, a time and a cost column per task, accuracy last."""
    header = ["platform", "label"]
    for t in data.tasks:
        header += [f"{t.name}\ntime s", f"{t.name}\ncost USD"]
    rows = []
    for p in data.platforms:
        row = [p.id, p.caption]
        for t in data.tasks:
            cell = t.cells.get(p.id)
            row.append(_cell_text(cell, lambda c: c.time_s, fmt_time, lambda c: c.fastest, "fastest", ("", "")))
            row.append(_cell_text(cell, lambda c: c.cost_usd, fmt_usd, lambda c: c.cheapest, "cheapest", ("", "")))
        rows.append(row)
    acc = ["accuracy", "measured"]
    for t in data.tasks:
        acc += ["-" if t.accuracy is None else f"{t.accuracy:.4f}", ""]
    rows.append(acc)
    return header, rows


def model_check_rows(data: PlatformComparison) -> tuple[list[str], list[list[str]]]:
    """Modelled vs measured on the platform the run really executed on."""
    pid = data.measured_platform
    header = [
        "task",
        f"measured time s ({pid})",
        "modelled time s",
        "model error",
        "measured cost USD",
        "modelled cost USD",
    ]
    rows = []
    for t in data.tasks:
        c = t.cells.get(pid or "")
        if c is None:
            continue
        rows.append(
            [
                t.name,
                fmt_time(c.time_s),
                fmt_time(c.modelled_time_s),
                fmt_pct(c.model_error_pct),
                fmt_usd(c.cost_usd),
                fmt_usd(c.modelled_cost_usd),
            ]
        )
    return header, rows


def problems(data: PlatformComparison) -> list[str]:
    return [f"{t.name} on {p}: {c.problem}" for t in data.tasks for p, c in t.cells.items() if c.problem]


def trial_rows(trials: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """One row per tune trial: its values, what happened, and its measured validation accuracy."""
    names = sorted({k for t in trials for k in t["values"]})
    header = ["trial", *names, "status", "epochs", "validation accuracy (measured)", "time s (measured)"]
    rows = []
    for t in trials:
        tag = " (default)" if t["index"] == 0 else ""
        tag += " (best)" if t.get("best") else ""
        rows.append(
            [
                f"{t['index']}{tag}",
                *(fmt_value(t["values"].get(n)) for n in names),
                t["status"],
                str(t["epochs"]),
                fmt_value(t["validation_accuracy"]),
                f"{t['wall_s']:.1f}",
            ]
        )
    return header, rows


def runs_rows(data: RunsTable, transpose: bool) -> tuple[list[str], list[list[str]]]:
    """Rows = runs (csv), or transposed: one row per column, one column per run (terminal, md, html)."""
    if not transpose:
        header = [c.name for c in data.columns]
        return header, [[fmt_value(r.get(c.name)) for c in data.columns] for r in data.rows]
    header = ["column", "kind"] + [str(r.get("run")) for r in data.rows]
    rows = []
    for c in data.columns:
        if c.name == "run":
            continue
        kind = c.group if c.group == "param" else f"{c.group}, {c.label}"
        if len({repr(r.get(c.name)) for r in data.rows}) > 1:
            kind += ", differs"
        rows.append([c.name, kind] + [fmt_value(r.get(c.name)) for r in data.rows])
    return header, rows
