"""The raw array codec the shared state is exchanged in: every plain dtype and shape back as written (as views
of the bytes, aligned), and bytes it did not write refused rather than misread."""

from __future__ import annotations

import numpy as np
import pytest

from mlspec.storage.codec import pack_raw, unpack_raw


def test_arrays_come_back_as_written_as_aligned_views() -> None:
    arrays = {
        "sums": np.random.default_rng(0).normal(size=(4, 3)),
        "counts": np.arange(5, dtype=np.int64),
        "done": np.array([True]),
        "params": np.linspace(0, 1, 7, dtype=np.float32)[::2],  # not contiguous
        "empty": np.zeros((0, 3)),
    }
    data = pack_raw(**arrays)
    back = unpack_raw(data)
    assert list(back) == list(arrays)
    for name, array in arrays.items():
        assert back[name].dtype == array.dtype and back[name].shape == array.shape
        np.testing.assert_array_equal(back[name], array)
        assert back[name].flags.aligned
    # The large first array is read in place, not copied (what every k-means round exchanges).
    assert np.shares_memory(back["sums"], np.frombuffer(data, np.uint8))


def test_bytes_it_did_not_write_are_refused() -> None:
    data = pack_raw(x=np.arange(3.0))
    with pytest.raises(ValueError, match="8 bytes beyond"):
        unpack_raw(data + b"\0" * 8)
    header = b'[["x", "|O", [1]]]'
    with pytest.raises(ValueError, match="only booleans, integers and floats"):
        unpack_raw(len(header).to_bytes(4, "little") + header + b"\0" * 8)
