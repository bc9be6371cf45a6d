"""IMDb Large Movie Review Dataset v1.0: the `aclImdb/` folder (train/{pos,neg}, test/{pos,neg}, one review
per `<id>_<rating>.txt`; `unsup` is ignored) or a tar archive holding it.

Label 1 = pos, 0 = neg. Within each split, reviews are sorted by numeric id and then label
(neg 0, pos 0, neg 1, pos 1, ...), so the order is deterministic and any prefix (max_train, max_test) is
class-balanced."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from mlspec.datasets.base import IMDB_CLASSES, DataRejected, Dataset, DatasetError, Progress
from mlspec.datasets.sources import ArchiveLimits, iter_archive, within

FOLDER = "aclImdb"
SPLITS = ("train", "test")
LABELS = {"neg": 0, "pos": 1}
_LAYOUT = f"{FOLDER}/ with train/pos, train/neg, test/pos and test/neg holding <id>_<rating>.txt reviews"
_MEMBER = re.compile(r"^(?:(?P<root>.*)/)?(?P<split>train|test)/(?P<label>pos|neg)/(?P<file>[^/]+\.txt)$")
_NAME = re.compile(r"^(\d+)_(\d+)\.txt$")

# The official archive: ~100,000 members, reviews of at most ~14 KB, ~0.3 GB in all once decompressed.
# `member` also caps a review file read from a folder.
ARCHIVE_LIMITS = ArchiveLimits(member=4 << 20, total=1 << 30, members=1_000_000)

SortKey = tuple[int, int, str]
# (split, label name) -> [(sort key, raw bytes)]
Reviews = dict[tuple[str, str], list[tuple[SortKey, bytes]]]


def _key(file_name: str) -> SortKey:
    match = _NAME.match(file_name)
    return (0, int(match.group(1)), file_name) if match else (1, 0, file_name)


def _build(reviews: Reviews, where: str, source: str) -> Dataset:
    empty = [f"{split}/{label}" for split in SPLITS for label in LABELS if not reviews.get((split, label))]
    if empty:
        raise DataRejected(f"{where}: no reviews in {', '.join(empty)}: expected {_LAYOUT}")
    out: list[tuple[list[str], np.ndarray]] = []
    for split in SPLITS:
        rows = sorted(
            (key[0], key[1], LABELS[label], key[2], data)
            for label in LABELS
            for key, data in reviews.pop((split, label))
        )
        texts = [row[4].decode("utf-8", errors="replace") for row in rows]
        out.append((texts, np.fromiter((row[2] for row in rows), dtype=np.int64, count=len(rows))))
    return Dataset("imdb", list(IMDB_CLASSES), out[0][0], out[0][1], out[1][0], out[1][1], source)


def find_folder(path: Path) -> Path:
    """`path` itself when it holds train/ and test/, else its `aclImdb` child."""
    for candidate in (path, path / FOLDER):
        if all((candidate / split / label).is_dir() for split in SPLITS for label in LABELS):
            return candidate
    raise DataRejected(f"{path}: not an IMDb folder: expected {_LAYOUT}")


def load_folder(path: Path, source: str, progress: Progress | None = None) -> Dataset:
    folder = find_folder(path)
    reviews: Reviews = {}
    done = 0
    for split in SPLITS:
        for label in LABELS:
            directory = within(path, folder / split / label)
            items = reviews.setdefault((split, label), [])
            try:
                with os.scandir(directory) as entries:
                    files = [
                        (e.name, within(path, Path(e.path)) if e.is_symlink() else Path(e.path))
                        for e in entries
                        if e.name.endswith(".txt") and e.is_file()
                    ]
                for name, file in files:
                    with open(file, "rb") as f:
                        items.append((_key(name), f.read(ARCHIVE_LIMITS.member + 1)))
                    if len(items[-1][1]) > ARCHIVE_LIMITS.member:
                        raise DataRejected(f"{file}: larger than {ARCHIVE_LIMITS.member} bytes; not a review")
            except OSError as exc:
                raise DatasetError(f"{directory}: cannot read: {exc.strerror or exc}") from None
            done += len(files)
            if progress is not None:
                progress(f"reading {folder.name}", done, None)
    return _build(reviews, str(folder), source)


def wanted(name: str) -> bool:
    """An archive member that is a review of the train or test split."""
    return _MEMBER.match(name) is not None


def load_archive(archive: Path, source: str, progress: Progress | None = None) -> Dataset:
    """One streaming pass over the archive (much faster than random access to 50,000 small members)."""
    by_root: dict[str, Reviews] = {}
    for name, data in iter_archive(archive, ARCHIVE_LIMITS, wanted, progress):
        match = _MEMBER.match(name)
        assert match is not None  # wanted() checked it
        root = match.group("root") or ""
        reviews = by_root.setdefault(root, {})
        reviews.setdefault((match.group("split"), match.group("label")), []).append((_key(match["file"]), data))
    if not by_root:
        raise DataRejected(f"{archive}: not an IMDb archive: expected {_LAYOUT}")
    if len(by_root) > 1:
        roots = ", ".join(sorted(root or "top level" for root in by_root))
        raise DataRejected(f"{archive}: several IMDb folders inside ({roots}); keep one")
    ((root, reviews),) = by_root.items()
    return _build(reviews, f"{archive}:{root or '.'}", source)
