"""The code that runs inside a function. One entry point, `invoke(event)`, shared by every provider
shim (local process, Lambda handler, Cloud Run HTTP/job, Azure Functions app).

An event is plain JSON: `function` names what to run, the stores travel as config dicts, and
everything else a function needs is in the event or in the stores.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlspec.errors import RequestError
from mlspec.references import load
from mlspec.runtime.context import Context

# function name -> "module:callable(event, context) -> dict"
FUNCTIONS = {
    "preprocess": "mlspec.runtime.functions.preprocess:run",
    "train_worker": "mlspec.runtime.functions.train_worker:run",
    "evaluate": "mlspec.runtime.functions.evaluate:run",
    "predict": "mlspec.runtime.functions.predict:run",
    "iterative_worker": "mlspec.runtime.functions.iterative_worker:run",
    "noop": "mlspec.runtime.functions.noop:run",
}


Function = Callable[[dict[str, Any], Context], dict[str, Any]]


def load_function(name: Any) -> Function:
    """Import a function's module (and the libraries it needs: the cold part of a cold start)."""
    if name not in FUNCTIONS:
        raise RequestError(f"unknown function {name!r} (known: {', '.join(FUNCTIONS)})")
    function: Function = load(FUNCTIONS[name])
    return function


def invoke(event: dict[str, Any], context: Context | None = None) -> dict[str, Any]:
    """Run one function invocation; returns a JSON-serialisable result with the I/O it did."""
    function = load_function(event.get("function"))
    context = context or Context()
    result = function(event, context)
    result["io"] = context.io_summary()
    return result
