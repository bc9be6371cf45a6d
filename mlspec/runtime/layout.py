"""Where functions keep things in the object store, shared with the coordinator that reads them."""


def checkpoint_key(output: str) -> str:
    """The pointer to a training stage's latest checkpoint, under its model prefix."""
    return f"{output}/checkpoint/latest.json"
