"""Where functions keep things in the object store, shared with the coordinator that reads them."""


def checkpoint_key(output: str) -> str:
    """The pointer to a training stage's latest checkpoint, under its model prefix."""
    return f"{output}/checkpoint/latest.json"


def pause_key(namespace: str) -> str:
    """Set in a round's parameter-store namespace by a coordinator that re-plans: its training workers stop
    at the next epoch end, as if near their time limit, and the stage goes on from the checkpoint."""
    return f"{namespace}/pause"


def text_features_keys(data: str) -> tuple[str, str]:
    """The fitted TF-IDF as data (terms in column order as JSON; idf weights as .npz), for serving."""
    return f"{data}/features.json", f"{data}/features.npz"


def vectorizer_key(data: str) -> str:
    """A brought vectorizer fitted on the training split, pickled, for serving."""
    return f"{data}/vectorizer.pickle"


def raw_test_sample_key(data: str) -> str:
    """The first held-out examples as a client would send them (.npz), to check a serving bundle."""
    return f"{data}/test_sample.npz"


def preprocess_part_key(data: str, name: str) -> str:
    """A mapped preprocess stage's intermediate objects (each part's rows and summary), deleted by its
    merge: `name` "" is the prefix of them all."""
    return f"{data}/parts/{name}"
