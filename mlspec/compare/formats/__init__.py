"""Output formats of `mlspec compare`: one module each, with ``render(data) -> str``; a format is a module
and a line here. References, not imports, so the command line lists the formats without loading them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlspec.references import load

if TYPE_CHECKING:
    from mlspec.compare.tables import Comparison

FORMATS: dict[str, str] = {
    "terminal": "mlspec.compare.formats.terminal:render",  # plain text of the rich tables
    "md": "mlspec.compare.formats.markdown:render",
    "csv": "mlspec.compare.formats.csv_text:render",
    "json": "mlspec.compare.formats.json_text:render",
    "html": "mlspec.compare.formats.html:render",  # one self-contained file with plots
}


def render(data: Comparison, fmt: str) -> str:
    """`data` as text in `fmt`. Spec strings in it are the user's: every format passes them through
    `printable` (JSON: `redact_data`)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    text: str = load(FORMATS[fmt])(data)
    return text
