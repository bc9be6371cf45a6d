"""The rich console commands print through: the terminal's width on a terminal; elsewhere (a pipe, a
file) no wrapping at all, since rich would otherwise fold every table and line at 80 columns."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

# Wide enough that no table or line of mlspec's is folded; rich sizes tables to their content.
UNWRAPPED_WIDTH = 100_000


def console(stderr: bool = False) -> Console:
    """A console on stdout (or stderr); COLUMNS, when set, still decides the width."""
    from rich.console import Console

    terminal = Console(stderr=stderr)
    if terminal.is_terminal or os.environ.get("COLUMNS"):
        return terminal
    return Console(stderr=stderr, width=UNWRAPPED_WIDTH)
