"""JSON: the comparison's own dictionary, redacted."""

from __future__ import annotations

import json

from mlspec.compare.tables import Comparison
from mlspec.redaction import redact_data


def render(data: Comparison) -> str:
    return json.dumps(redact_data(data.to_dict()), indent=2, default=str) + "\n"  # escapes control characters
