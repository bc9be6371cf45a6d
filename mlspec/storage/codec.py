"""Arrays to and from bytes for the stores: numpy's .npz, never pickle; CSR matrices as their parts."""

from __future__ import annotations

import io
from typing import Any

import numpy as np


def pack(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def unpack(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def pack_xy(x: Any, y: np.ndarray) -> bytes:
    """Features (dense array or CSR matrix) and labels as one .npz."""
    if hasattr(x, "indptr"):
        return pack(x_data=x.data, x_indices=x.indices, x_indptr=x.indptr, x_shape=np.array(x.shape), y=y)
    return pack(x=np.asarray(x), y=y)


def unpack_xy(data: bytes) -> tuple[Any, np.ndarray]:
    arrays = unpack(data)
    if "x" in arrays:
        return arrays["x"], arrays["y"]
    from scipy import sparse

    x = sparse.csr_matrix((arrays["x_data"], arrays["x_indices"], arrays["x_indptr"]), shape=tuple(arrays["x_shape"]))
    return x, arrays["y"]
