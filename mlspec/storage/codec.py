"""Arrays to and from bytes for the stores: numpy's .npz, never pickle; CSR matrices as their parts; and for
what is exchanged every iteration, raw arrays behind a small header (pack_raw)."""

from __future__ import annotations

import io
import json
import struct
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


_HEADER_LENGTH = struct.Struct("<I")
_PLAIN_KINDS = "biuf"  # booleans, integers, floats: never objects, which would mean pickle
_ALIGNMENT = 8


def pack_raw(**arrays: np.ndarray) -> bytes:
    """Arrays as a length-prefixed JSON header (name, dtype, shape per array) and their bytes end to end: no zip
    and no checksum, which cost .npz 35 ms per 12 MB packed and read back (k-means exchanges that per round).
    The header is padded so that the first array starts 8-byte aligned; each array is copied once."""
    plain = {name: np.ascontiguousarray(a) for name, a in arrays.items()}
    header = json.dumps([[name, a.dtype.str, list(a.shape)] for name, a in plain.items()]).encode()
    header += b" " * (-(_HEADER_LENGTH.size + len(header)) % _ALIGNMENT)
    return b"".join(
        [_HEADER_LENGTH.pack(len(header)), header, *(a.reshape(-1).view(np.uint8).data for a in plain.values())]
    )


def unpack_raw(data: bytes) -> dict[str, np.ndarray]:
    """What pack_raw packed, as read-only views of `data` (copies where an array is not aligned for its dtype);
    ValueError for bytes it did not write."""
    (length,) = _HEADER_LENGTH.unpack_from(data)
    offset = _HEADER_LENGTH.size + length
    out: dict[str, np.ndarray] = {}
    for name, dtype_str, shape in json.loads(data[_HEADER_LENGTH.size : offset]):
        dtype = np.dtype(dtype_str)
        if dtype.kind not in _PLAIN_KINDS:
            raise ValueError(f"array {name!r} has dtype {dtype_str}: only booleans, integers and floats are read")
        count = int(np.prod(shape, dtype=np.int64))
        array = np.frombuffer(data, dtype, count, offset).reshape(shape)
        out[name] = array if array.flags.aligned else array.copy()
        offset += count * dtype.itemsize
    if offset != len(data):
        raise ValueError(f"{len(data) - offset} bytes beyond the arrays the header names")
    return out
