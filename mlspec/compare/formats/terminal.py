"""Rich tables for the terminal (plain text of them when written to a file)."""

from __future__ import annotations

import io

from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from mlspec.compare.rows import model_check_rows, platform_rows_transposed, problems, runs_rows, trial_rows
from mlspec.compare.tables import Comparison, PlatformComparison
from mlspec.redaction import printable
from mlspec.wording import plural


def render(data: Comparison) -> str:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    for part in renderables(data):
        console.print(part)
    out = console.file
    assert isinstance(out, io.StringIO)
    return printable(out.getvalue())


def renderables(data: Comparison) -> list[RenderableType]:
    """The tables and notes as rich renderables, for a console to print."""

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
