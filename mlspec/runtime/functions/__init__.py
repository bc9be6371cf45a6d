"""One module per function kind; each exposes `run(event, context) -> dict`."""
