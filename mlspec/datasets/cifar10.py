"""CIFAR-10, python version: the `cifar-10-batches-py/` folder (data_batch_1..5, test_batch, batches.meta,
each a protocol-2 pickle with byte-string keys) or a tar archive holding it. The pickles are read with a
restricted unpickler that can only rebuild numpy arrays, so a hostile file cannot run code."""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mlspec.datasets.base import DataRejected, Dataset, DatasetError, Progress
from mlspec.datasets.sources import ArchiveLimits, iter_archive, within
from mlspec.wording import plural

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META = "batches.meta"
REQUIRED = (*TRAIN_BATCHES, TEST_BATCH, META)
# The official archive: 8 members, batch files of ~31 MB, ~0.19 GB in all once decompressed.
ARCHIVE_LIMITS = ArchiveLimits(member=128 << 20, total=1 << 30, members=10_000)
_LAYOUT = f"{FOLDER}/ with {', '.join(TRAIN_BATCHES[:1])}..5, {TEST_BATCH} and {META}"


def _latin1_encode(obj: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """`_codecs.encode` as used by Python 3 protocol-2 pickles of bytes, limited to latin-1."""
    if encoding.replace("-", "").replace("_", "").lower() not in ("latin1", "iso88591"):
        raise DataRejected(f"refusing _codecs.encode with encoding {encoding!r} in a CIFAR-10 pickle")
    return obj.encode("latin-1", errors)


def _allowed_globals() -> dict[tuple[str, str], Any]:
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
    return {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
    }


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals that numpy arrays need; anything else is a DatasetError."""

    def __init__(self, data: bytes, where: str) -> None:
        super().__init__(io.BytesIO(data), encoding="bytes")
        self._where = where
        self._allowed = _allowed_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise DataRejected(
                f"{self._where}: refusing to unpickle {module}.{name} (only numpy arrays are allowed)"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise DataRejected(f"{self._where}: refusing a pickle with persistent ids")


def safe_unpickle(data: bytes, where: str) -> Any:
    try:
        return _RestrictedUnpickler(data, where).load()
    except DatasetError:
        raise
    except Exception as exc:  # a malformed pickle can raise nearly any exception type
        raise DataRejected(f"{where}: corrupt pickle: {type(exc).__name__}: {exc}") from None


def _entry(batch: Any, key: str, where: str) -> Any:
    if not isinstance(batch, dict):
        raise DataRejected(f"{where}: not a CIFAR-10 batch (expected a dict, got {type(batch).__name__})")
    for k in (key.encode(), key):
        if k in batch:
            return batch[k]
    raise DataRejected(f"{where}: not a CIFAR-10 batch (no {key!r} entry)")


def parse_meta(data: bytes, where: str) -> list[str]:
    names = _entry(safe_unpickle(data, where), "label_names", where)
    if not isinstance(names, list | tuple) or not names or not all(isinstance(n, bytes | str) for n in names):
        raise DataRejected(f"{where}: label_names must be a non-empty list of strings")
    return [n.decode("utf-8", "replace") if isinstance(n, bytes) else n for n in names]


def parse_batch(data: bytes, where: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> (images uint8 (K, 32, 32, 3), labels int64 (K,))."""
    batch = safe_unpickle(data, where)
    pixels = _entry(batch, "data", where)
    labels_raw = _entry(batch, "labels", where)
    if (
        not isinstance(pixels, np.ndarray)
        or pixels.dtype != np.uint8
        or pixels.ndim != 2
        or (pixels.shape[1] != 3 * 32 * 32)
    ):
        got = f"{pixels.dtype} {pixels.shape}" if isinstance(pixels, np.ndarray) else type(pixels).__name__
        raise DataRejected(f"{where}: data must be a uint8 array of shape (N, 3072), got {got}")
    try:
        labels = np.asarray(labels_raw, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise DataRejected(f"{where}: labels must be a list of integers") from None
    if labels.shape != (pixels.shape[0],):
        raise DataRejected(f"{where}: {plural(labels.size, 'label')} for {plural(pixels.shape[0], 'image')}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataRejected(f"{where}: labels must be in 0..{num_classes - 1}")
    images = np.ascontiguousarray(pixels.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return images, labels


def _build(
    read: Callable[[str], bytes], where: Callable[[str], str], source: str, progress: Progress | None
) -> Dataset:
    classes = parse_meta(read(META), where(META))
    parts = []
    for i, name in enumerate((*TRAIN_BATCHES, TEST_BATCH)):
        parts.append(parse_batch(read(name), where(name), len(classes)))
        if progress is not None:
            progress("parsing CIFAR-10 batches", i + 1, len(TRAIN_BATCHES) + 1)
    train_x = np.concatenate([p[0] for p in parts[:-1]])
    train_y = np.concatenate([p[1] for p in parts[:-1]])
    return Dataset("cifar10", classes, train_x, train_y, parts[-1][0], parts[-1][1], source)


def find_folder(path: Path) -> Path:
    """`path` itself when it holds the batches, else its `cifar-10-batches-py` child."""
    for candidate in (path, path / FOLDER):
        if all((candidate / name).is_file() for name in REQUIRED):
            return candidate
    for candidate in (path, path / FOLDER):
        present = [name for name in REQUIRED if (candidate / name).is_file()]
        if present:
            missing = ", ".join(name for name in REQUIRED if name not in present)
            raise DataRejected(f"{candidate}: incomplete CIFAR-10 folder: missing {missing}")
    raise DataRejected(f"{path}: not a CIFAR-10 folder: expected {_LAYOUT}")


def load_folder(path: Path, source: str, progress: Progress | None = None) -> Dataset:
    folder = find_folder(path)

    def read(name: str) -> bytes:
        try:
            with within(path, folder / name).open("rb") as f:
                data = f.read(ARCHIVE_LIMITS.member + 1)
        except OSError as exc:
            raise DatasetError(f"{folder / name}: cannot read: {exc.strerror or exc}") from None
        if len(data) > ARCHIVE_LIMITS.member:
            raise DataRejected(f"{folder / name}: larger than {ARCHIVE_LIMITS.member} bytes; not a CIFAR-10 batch")
        return data

    return _build(read, lambda name: str(folder / name), source, progress)


def wanted(name: str) -> bool:
    """An archive member that is one of the batch files."""
    return name.rpartition("/")[2] in REQUIRED


def load_archive(archive: Path, source: str, progress: Progress | None = None) -> Dataset:
    """One streaming pass; the batch files may sit in any single folder of the archive (normally
    cifar-10-batches-py/)."""
    found: dict[str, dict[str, bytes]] = {}
    for name, data in iter_archive(archive, ARCHIVE_LIMITS, wanted, progress):
        folder, _, base = name.rpartition("/")
        found.setdefault(folder, {})[base] = data
    complete = sorted(folder for folder, files in found.items() if len(files) == len(REQUIRED))
    if not complete:
        detail = ""
        if found:
            folder, files = max(found.items(), key=lambda item: len(item[1]))
            missing = ", ".join(name for name in REQUIRED if name not in files)
            detail = f" ({folder or 'top level'} lacks {missing})"
        raise DataRejected(f"{archive}: not a CIFAR-10 archive: expected {_LAYOUT}{detail}")
    if len(complete) > 1:
        raise DataRejected(f"{archive}: several CIFAR-10 folders inside ({', '.join(complete)}); keep one")
    folder = complete[0]
    files = found.pop(folder)
    found.clear()

    def read(name: str) -> bytes:
        return files.pop(name)  # drop the raw bytes as soon as they are parsed

    prefix = f"{folder}/" if folder else ""
    return _build(read, lambda name: f"{archive}:{prefix}{name}", source, progress)
