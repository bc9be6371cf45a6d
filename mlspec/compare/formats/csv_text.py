"""CSV: long format for one run on every platform (a row per task x platform), a row per run side by side."""

from __future__ import annotations

import csv
import io

from mlspec.compare.tables import Comparison, PlatformComparison, RunsTable
from mlspec.redaction import printable


def render(data: Comparison) -> str:
    return printable(platforms_csv(data) if isinstance(data, PlatformComparison) else runs_csv(data))


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
