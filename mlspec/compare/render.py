"""Comparison tables rendered as rich terminal tables, Markdown, CSV, JSON or (via `report`) HTML.

Input: the plain dataclasses of `mlspec.compare.tables`; output: text (or rich renderables). Spec strings
in them are the user's: every output passes them through `printable` (or, for JSON, `redact_data`)."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from mlspec.compare.tables import Cell, PlatformComparison, RunsTable
from mlspec.redaction import printable, redact_data
from mlspec.wording import plural

if TYPE_CHECKING:
    from rich.console import RenderableType

Format = Literal["terminal", "md", "csv", "json", "html"]
FORMATS: tuple[str, ...] = ("terminal", "md", "csv", "json", "html")
Comparison = PlatformComparison | RunsTable


def render(data: Comparison, fmt: str) -> str:
    """`data` as text in `fmt` (md, csv, json, html; terminal gives plain text of the rich tables)."""
    if fmt == "json":  # json.dumps escapes control characters itself
        return json.dumps(redact_data(data.to_dict()), indent=2, default=str) + "\n"
    if fmt == "html":
        from mlspec.compare.html import html_report

        return printable(html_report(data))
    if fmt == "md":
        return printable(markdown(data))
    if fmt == "csv":
        return printable(platforms_csv(data) if isinstance(data, PlatformComparison) else runs_csv(data))
    if fmt == "terminal":
        from rich.console import Console

        console = Console(file=io.StringIO(), width=200, color_system=None)
        for part in terminal(data):
            console.print(part)
        out = console.file
        assert isinstance(out, io.StringIO)
        return printable(out.getvalue())
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


# ---------------------------------------------------------------- numbers


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


# ---------------------------------------------------------------- platform tables as rows


def platform_rows(
    data: PlatformComparison,
    what: Literal["time", "cost"],
    bold: tuple[str, str] = ("", ""),
) -> tuple[list[str], list[list[str]]]:
    """The paper's layout: one row per task, one column per platform (+ accuracy on the time table)."""
    header = ["task"] + [f"{p.id} ({p.label})" for p in data.platforms]
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
        row = [p.id, p.label]
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


# ---------------------------------------------------------------- terminal


def terminal(data: Comparison) -> list[RenderableType]:
    from rich.table import Table
    from rich.text import Text

    def table(title: str, header: list[str], rows: list[list[str]], first_left: bool = True) -> Table:
        tab = Table(title=Text(printable(title)), title_justify="left")
        for i, h in enumerate(header):
            left = i == 0 or (i == 1 and not first_left)
            tab.add_column(Text(printable(h)), justify="left" if left else "right", overflow="fold")
        for row in rows:
            tab.add_row(*(Text(printable(c)) for c in row))
        return tab

    out: list[RenderableType] = []
    if isinstance(data, PlatformComparison):
        h, r = platform_rows_transposed(data)
        title = f"Training time and cost per task on every platform — run {data.run_id}"
        out.append(table(title, h, r, first_left=False))
        tasks = "; ".join(f"{t.name}: {t.title}" for t in data.tasks)
        out.append(Text(printable(f"tasks: {tasks}"), style="dim"))
        h, r = model_check_rows(data)
        out.append(table("Model check on the platform the run executed on", h, r))
        for stage, trials in data.trials.items():
            out.append(table(f"Tune trials of {stage} (validation: part of the training split)", *trial_rows(trials)))
        notes = data.notes + problems(data)
    else:
        h, r = runs_rows(data, transpose=True)
        out.append(table(f"{plural(len(data.rows), 'run')} side by side", h, r, first_left=False))
        notes = data.notes
    out.append(Text(printable("\n".join(f"• {n}" for n in notes)), style="dim"))
    return out


# ---------------------------------------------------------------- markdown


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = [
        "| " + " | ".join(_md_escape(h) for h in header) + " |",
        "|" + "|".join(":---" if i == 0 else "---:" for i in range(len(header))) + "|",
    ]
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def markdown(data: Comparison) -> str:
    parts: list[str] = []
    if isinstance(data, PlatformComparison):
        parts.append(f"# Run {data.run_id} ({data.name}) on every platform\n")
        parts.append("## Training time per task (seconds)\n")
        parts.append(md_table(*platform_rows(data, "time", bold=("**", "**"))))
        parts.append("## Training cost per task (USD)\n")
        parts.append(md_table(*platform_rows(data, "cost", bold=("**", "**"))))
        parts.append("## Model check\n")
        parts.append(md_table(*model_check_rows(data)))
        for stage, trials in data.trials.items():
            parts.append(f"## Tune trials of {stage} (validation: part of the training split)\n")
            parts.append(md_table(*trial_rows(trials)))
        notes = data.notes + problems(data)
    else:
        parts.append(f"# {plural(len(data.rows), 'run')} side by side\n")
        parts.append(md_table(*runs_rows(data, transpose=True)))
        notes = data.notes
    parts.append("## Notes\n")
    parts.append("\n".join(f"- {n}" for n in notes) + "\n")
    return "\n".join(parts)


# ---------------------------------------------------------------- csv


def platforms_csv(data: PlatformComparison) -> str:
    """Long format: one row per task x platform."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        [
            "run",
            "task",
            "title",
            "platform",
            "label",
            "memory_mb",
            "vcpu",
            "time_s",
            "cost_usd",
            "fastest",
            "cheapest",
            "accuracy",
            "modelled_time_s",
            "modelled_cost_usd",
            "model_error_pct",
            "problem",
        ]
    )
    platforms = {p.id: p for p in data.platforms}
    for t in data.tasks:
        for pid, c in t.cells.items():
            p = platforms[pid]
            w.writerow(
                [
                    data.run_id,
                    t.name,
                    t.title,
                    pid,
                    c.label,
                    p.memory_text().removesuffix(" MB"),
                    "" if p.vcpu is None else p.vcpu,
                    _num(c.time_s),
                    _num(c.cost_usd),
                    int(c.fastest),
                    int(c.cheapest),
                    _num(t.accuracy),
                    _num(c.modelled_time_s),
                    _num(c.modelled_cost_usd),
                    _num(c.model_error_pct),
                    c.problem or "",
                ]
            )
    return buf.getvalue()


def runs_csv(data: RunsTable) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([c.name for c in data.columns])
    for r in data.rows:
        w.writerow(["" if r.get(c.name) is None else r.get(c.name) for c in data.columns])
    return buf.getvalue()


def _num(v: float | None) -> str:
    return "" if v is None else repr(v)
