"""Markdown: one table per section, notes as a list."""

from __future__ import annotations

from mlspec.compare.rows import model_check_rows, platform_rows, problems, runs_rows, trial_rows
from mlspec.compare.tables import Comparison, PlatformComparison
from mlspec.redaction import printable
from mlspec.wording import plural


def render(data: Comparison) -> str:
    return printable(_markdown(data))


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = [
        "| " + " | ".join(_md_escape(h) for h in header) + " |",
        "|" + "|".join(":---" if i == 0 else "---:" for i in range(len(header))) + "|",
    ]
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _markdown(data: Comparison) -> str:
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
