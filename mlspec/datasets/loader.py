"""load_dataset / verify_source: config -> verified local source -> parsed Dataset (or a synthetic twin)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

from mlspec.datasets import cifar10, imdb, synthetic
from mlspec.datasets.base import FORMATS, Dataset, Progress
from mlspec.datasets.sources import (
    Located,
    SourceSpec,
    check_archive,
    check_archive_header,
    is_remote,
    locate,
    parse_config,
)

# format -> its parser module (ARCHIVE_LIMITS, wanted, find_folder, load_folder, load_archive)
_PARSERS: dict[str, ModuleType] = {"cifar10": cifar10, "imdb": imdb}
# format -> its synthetic twin (train_size, test_size, seed) -> Dataset
_SYNTHETIC: dict[str, Callable[[int, int, int], Dataset]] = {"cifar10": synthetic.cifar10, "imdb": synthetic.imdb}
assert set(_PARSERS) == set(_SYNTHETIC) == set(FORMATS), "a dataset format needs a parser and a synthetic twin"


def _format_module(spec: SourceSpec) -> ModuleType:
    return _PARSERS[spec.format]


def verify_source(config: Mapping[str, Any], cache_dir: Path, progress: Progress | None = None) -> Path | None:
    """Resolve the source (downloading http(s) URLs into `cache_dir`), check its checksums, and check cheaply
    that it looks usable (an archive opens; a folder has the expected layout) without parsing it.
    Returns the local archive or dataset folder, or None for a synthetic dataset. Raises DatasetError."""
    spec = parse_config(config)
    if spec.path is None:
        return None
    return _check_usable(spec, locate(spec, Path(cache_dir), progress, check=_archive_check(spec)))


def check_local_source(config: Mapping[str, Any]) -> str | None:
    """What `mlspec validate` checks of a source, without downloading or hashing anything: a local file or
    folder exists, reads and looks usable (as in verify_source). Returns a note when it checked nothing (a
    URL). Raises DatasetError."""
    spec = parse_config(config)
    if spec.path is None:
        return None
    if is_remote(spec.path):
        return f"{spec.path}: a URL, not checked here (mlspec run downloads and verifies it)"
    _check_usable(spec, locate(spec, Path(), None, verify=False))
    return None


def _archive_check(spec: SourceSpec) -> Callable[[Path], None]:
    """What a download must pass before it is cached: a full pass over it as this format's archive."""
    module = _format_module(spec)
    return lambda path: check_archive(path, module.ARCHIVE_LIMITS, module.wanted)


def _check_usable(spec: SourceSpec, located: Located) -> Path:
    module = _format_module(spec)
    if located.is_archive:
        check_archive_header(located.path, module.ARCHIVE_LIMITS, module.wanted)
        return located.path
    path: Path = module.find_folder(located.path)
    return path


def load_dataset(config: Mapping[str, Any], cache_dir: Path, progress: Progress | None = None) -> Dataset:
    """Load the dataset described by `config` (format, path, sha256, md5, synthetic, max_train, max_test).
    Raises DatasetError with a one-line message on any problem with the source."""
    spec = parse_config(config)
    if spec.path is None:
        data = _SYNTHETIC[spec.format](spec.synthetic.train_size, spec.synthetic.test_size, spec.synthetic.seed)
    else:
        located = locate(spec, Path(cache_dir), progress, check=_archive_check(spec))
        module = _format_module(spec)
        load = module.load_archive if located.is_archive else module.load_folder
        data = load(located.path, located.source, progress)
    return _limit(data, spec.max_train, spec.max_test)


def _head(values: Any, k: int | None) -> Any:
    if k is None or k >= len(values):
        return values
    return values[:k].copy()


def _limit(data: Dataset, max_train: int | None, max_test: int | None) -> Dataset:
    """Keep the first max_train / max_test examples (copies, so the full arrays can be freed)."""
    if max_train is None and max_test is None:
        return data
    return replace(
        data,
        train_x=_head(data.train_x, max_train),
        train_y=_head(data.train_y, max_train),
        test_x=_head(data.test_x, max_test),
        test_y=_head(data.test_y, max_test),
        available=(len(data.train_y), len(data.test_y)),
    )
