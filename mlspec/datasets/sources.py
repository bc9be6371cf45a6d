"""Where a dataset comes from: local paths, file:// URIs and http(s):// downloads into a cache, checksums,
and one streaming pass over a tar archive. Heavy standard modules (tarfile, urllib) are imported lazily."""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from mlspec.datasets.base import FORMATS, DataRejected, DatasetError, Progress
from mlspec.errors import shown_path

#: The official cifar-10-python.tar.gz (https://www.cs.toronto.edu/~kriz/cifar.html): 170,498,071 bytes.
CIFAR10_OFFICIAL_NAME = "cifar-10-python.tar.gz"
CIFAR10_OFFICIAL_MD5 = "c58f30108f718f92721af3b95e74349a"

_CHUNK = 1 << 20
_HEX = {"sha256": re.compile(r"^[0-9a-fA-F]{64}$"), "md5": re.compile(r"^[0-9a-fA-F]{32}$")}
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


@dataclass(frozen=True)
class SyntheticSpec:
    train_size: int
    test_size: int
    seed: int


@dataclass(frozen=True)
class SourceSpec:
    """A validated dataset config."""

    format: str
    path: str | None
    checksums: dict[str, str]  # algorithm -> expected lowercase hex digest, as given by the user
    synthetic: SyntheticSpec
    max_train: int | None
    max_test: int | None


@dataclass(frozen=True)
class Located:
    """A source available on local disk: an archive file or a folder, plus how to describe it."""

    path: Path
    is_archive: bool
    source: str


def _int(value: Any, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DatasetError(f"{what} must be an integer, got {value!r}")
    if value < minimum:
        raise DatasetError(f"{what} must be >= {minimum}, got {value}")
    return value


def parse_config(config: Mapping[str, Any]) -> SourceSpec:
    """Check the plain-data dataset config; unknown keys are ignored."""
    if not isinstance(config, Mapping):
        raise DatasetError(f"dataset config must be a mapping, got {type(config).__name__}")
    fmt = config.get("format")
    if fmt not in FORMATS:
        raise DatasetError(f"unknown dataset format {fmt!r} (expected one of: {', '.join(FORMATS)})")
    path = config.get("path")
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if path is not None and (not isinstance(path, str) or not path.strip()):
        raise DatasetError(f"dataset path must be a non-empty string, got {path!r}")
    checksums: dict[str, str] = {}
    for algo, pattern in _HEX.items():
        value = config.get(algo)
        if value is None:
            continue
        if not isinstance(value, str) or not pattern.match(value.strip()):
            size = 64 if algo == "sha256" else 32
            raise DatasetError(f"{algo} must be {size} hexadecimal digits, got {value!r}")
        checksums[algo] = value.strip().lower()
    raw = config.get("synthetic") or {}
    if not isinstance(raw, Mapping):
        raise DatasetError(f"synthetic must be a mapping (train_size, test_size, seed), got {raw!r}")
    synthetic = SyntheticSpec(
        train_size=_int(raw.get("train_size", 2000), "synthetic.train_size", 1),
        test_size=_int(raw.get("test_size", 500), "synthetic.test_size", 1),
        seed=_int(raw.get("seed", 0), "synthetic.seed", 0),
    )
    limits = [config.get(key) for key in ("max_train", "max_test")]
    max_train, max_test = (
        None if value is None else _int(value, key, 1)
        for key, value in zip(("max_train", "max_test"), limits, strict=True)
    )
    return SourceSpec(fmt, path.strip() if path else None, checksums, synthetic, max_train, max_test)


# ---------------------------------------------------------------- checksums


def expected_checksums(spec: SourceSpec, file_name: str) -> tuple[dict[str, str], str]:
    """The digests an archive must match, and a hint added to mismatch messages."""
    if spec.checksums:
        return spec.checksums, ""
    if spec.format == "cifar10" and file_name == CIFAR10_OFFICIAL_NAME:
        return {"md5": CIFAR10_OFFICIAL_MD5}, f" (the official {CIFAR10_OFFICIAL_NAME}; give sha256: for another file)"
    return {}, ""


def hash_file(path: Path, algorithms: list[str], progress: Progress | None = None) -> dict[str, str]:
    hashers = {algo: hashlib.new(algo) for algo in algorithms}
    try:
        total = path.stat().st_size
        done = 0
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                for hasher in hashers.values():
                    hasher.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(f"verifying {path.name}", done, total)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return {algo: hasher.hexdigest() for algo, hasher in hashers.items()}


def check_digests(where: str, expected: dict[str, str], actual: dict[str, str], hint: str = "") -> None:
    for algo, want in expected.items():
        if actual[algo] != want:
            raise DataRejected(f"{where}: {algo} mismatch: expected {want}, got {actual[algo]}{hint}")


def verify_file(path: Path, expected: dict[str, str], hint: str, progress: Progress | None) -> None:
    if expected:
        check_digests(str(path), expected, hash_file(path, list(expected), progress), hint)


# ---------------------------------------------------------------- locating


def is_remote(path: str) -> bool:
    """Whether a dataset path names something to download rather than a local file."""
    match = _SCHEME.match(path)
    return match is not None and match.group(1).lower() in ("http", "https")


def locate(
    spec: SourceSpec,
    cache_dir: Path,
    progress: Progress | None,
    verify: bool = True,
    check: Callable[[Path], None] | None = None,
) -> Located:
    """Local path, file:// URI or http(s):// URL -> a file or folder on local disk, its checksums verified
    (unless `verify` is false); `check` vets a download before it is cached."""
    assert spec.path is not None
    text = spec.path
    match = _SCHEME.match(text)
    scheme = match.group(1).lower() if match else ""
    if scheme in ("http", "https"):
        path = download(text, spec, cache_dir, progress, check)
        return Located(path, True, text)
    if scheme == "file" or text.lower().startswith("file:"):
        path = file_uri_path(text)
    elif scheme:
        raise DatasetError(f"{text}: unsupported scheme {scheme}:// (use a local path, file://, https://)")
    else:
        try:
            path = Path(text).expanduser()
        except RuntimeError:
            raise DatasetError(f"{shown_path(text)}: cannot expand {text.split('/')[0]!r}: no such user") from None
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise DatasetError(f"{shown_path(str(path))}: no such file") from None
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{shown_path(str(path))}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    if stat.S_ISDIR(mode):
        return Located(path, False, str(path.absolute()))
    if not stat.S_ISREG(mode):
        raise DatasetError(f"{path}: not a regular file or folder")
    if verify:
        expected, hint = expected_checksums(spec, path.name)
        verify_file(path, expected, hint, progress)
    return Located(path, True, str(path.absolute()))


def within(root: Path, path: Path) -> Path:
    """`path` with its symlinks resolved, refusing one that leads outside the dataset folder `root` (a link
    to /etc/passwd would otherwise end up in the vocabulary and the serving bundle)."""
    real, boundary = path.resolve(), root.resolve()
    if not real.is_relative_to(boundary):
        raise DataRejected(
            f"{path}: a symlink to {real}, outside the dataset folder {boundary}; refusing it "
            "(copy the file in, or point the dataset path at the real folder)"
        )
    return real


def file_uri_path(uri: str) -> Path:
    from urllib.parse import urlparse
    from urllib.request import url2pathname

    parsed = urlparse(uri)
    if parsed.netloc not in ("", "localhost"):
        raise DatasetError(f"{uri}: file:// URIs with a host ({parsed.netloc}) are not supported")
    if not parsed.path:
        raise DatasetError(f"{uri}: file:// URI without a path")
    return Path(url2pathname(parsed.path))


def cache_path(url: str, cache_dir: Path) -> Path:
    from urllib.parse import unquote, urlparse

    base = unquote(urlparse(url).path).rstrip("/").rpartition("/")[2]
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".") or "download"
    return cache_dir / f"{hashlib.sha256(url.encode()).hexdigest()}-{base}"


def download(
    url: str, spec: SourceSpec, cache_dir: Path, progress: Progress | None, check: Callable[[Path], None] | None = None
) -> Path:
    """Fetch `url` into `cache_dir` (reusing a cached copy that verifies). The file only gets its final name
    after the checksums match and `check` (a full pass over the archive) accepts it, so a cached file is
    always complete; one that is not (cached by an older version) is removed with a note and fetched again."""
    import http.client
    import tempfile
    import urllib.error
    import urllib.request

    target = cache_path(url, cache_dir)
    name = target.name.partition("-")[2]
    expected, hint = expected_checksums(spec, name)
    if target.is_file():
        problem = _cached_problem(target, expected, check, progress)
        if problem is None:
            return target
        print(
            f"note: {target}: cached download is unusable ({problem}); fetching it again", file=sys.stderr, flush=True
        )
        target.unlink(missing_ok=True)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=cache_dir, prefix=f".{target.name}.", suffix=".part")
    except OSError as exc:
        raise DatasetError(f"{cache_dir}: cannot write the download cache: {exc.strerror or exc}") from None
    tmp = Path(tmp_name)
    try:
        hashers = {algo: hashlib.new(algo) for algo in expected}
        with os.fdopen(fd, "wb") as out:
            request = urllib.request.Request(url, headers={"User-Agent": "mlspec"})
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    length = response.headers.get("Content-Length")
                    total = int(length) if length and length.isdigit() else None
                    done = 0
                    if progress is not None:
                        progress(f"downloading {name}", 0, total)
                    while chunk := response.read(_CHUNK):
                        out.write(chunk)
                        for hasher in hashers.values():
                            hasher.update(chunk)
                        done += len(chunk)
                        if progress is not None:
                            progress(f"downloading {name}", done, total)
            except urllib.error.HTTPError as exc:
                raise DatasetError(f"{url}: download failed: HTTP {exc.code} {exc.reason}") from None
            except urllib.error.URLError as exc:
                raise DatasetError(f"{url}: download failed: {exc.reason}") from None
            except (OSError, http.client.HTTPException, ValueError) as exc:
                raise DatasetError(f"{url}: download failed: {type(exc).__name__}: {exc}") from None
        if total is not None and done != total:
            raise DatasetError(f"{url}: download failed: got {done} of {total} bytes")
        check_digests(url, expected, {algo: h.hexdigest() for algo, h in hashers.items()}, hint)
        if check is not None:
            try:
                check(tmp)
            except DatasetError as exc:  # e.g. cut short by a server that sent no Content-Length
                reason = str(exc).replace(f"{tmp}: ", "")
                raise DatasetError(f"{url}: download failed: not a usable archive: {reason}") from None
        os.replace(tmp, target)
        if not expected:  # with checksums, those are what a cached copy is checked against
            _mark_verified(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def _marker(target: Path) -> Path:
    return target.with_name(f"{target.name}.verified")


def _mark_verified(target: Path) -> None:
    """Remember that `target`, as it is now (size, mtime), passed the archive check."""
    info = target.stat()
    _marker(target).write_text(f"{info.st_size} {info.st_mtime_ns}\n")


def _cached_problem(
    target: Path, expected: dict[str, str], check: Callable[[Path], None] | None, progress: Progress | None
) -> str | None:
    """Why a cached download cannot be used, or None. Checksums are checked each time; without them the
    archive check runs once per file version (then remembered beside it)."""
    if expected:
        actual = hash_file(target, list(expected), progress)
        bad = [algo for algo, want in expected.items() if actual[algo] != want]
        return f"{bad[0]} mismatch" if bad else None
    if check is None:
        return None
    try:
        info = target.stat()
        if _marker(target).read_text().split() == [str(info.st_size), str(info.st_mtime_ns)]:
            return None
    except OSError:
        pass
    try:
        check(target)
    except DatasetError as exc:
        return str(exc).replace(f"{target}: ", "")
    _mark_verified(target)
    return None


# ---------------------------------------------------------------- archives


def _safe_name(archive: Path, name: str) -> str:
    clean = name.replace("\\", "/")
    while clean.startswith("./"):
        clean = clean[2:]
    parts = clean.split("/")
    if clean.startswith("/") or ".." in parts or re.match(r"^[A-Za-z]:", clean):
        raise DataRejected(f"{archive}: unsafe archive member {name!r} (absolute path or '..')")
    return "/".join(part for part in parts if part not in ("", "."))


def _corrupt(archive: Path, exc: BaseException) -> DatasetError:
    detail = str(exc) or type(exc).__name__
    return DataRejected(f"{archive}: corrupt archive: {detail}")


def _decompressed(raw: IO[bytes]) -> io.BufferedIOBase | IO[bytes]:
    """The decompressed stream of a gzip, bz2 or xz file (by its magic bytes), else `raw` itself."""
    import bz2
    import gzip
    import lzma

    magic = raw.read(6)
    raw.seek(0)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if magic.startswith(b"BZh"):
        return bz2.BZ2File(raw)
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(raw)
    return raw


@dataclass(frozen=True)
class ArchiveLimits:
    """How large a format's archive may be once decompressed, so a decompression bomb (a few MB that
    inflate to GBs) is refused from its headers or partway through, never after filling memory."""

    member: int  # one wanted member, read into memory
    total: int  # every decompressed byte, read or skipped
    members: int  # entries in the archive


#: pax and GNU long-name headers are read into memory whole; real ones are a few hundred bytes.
MAX_HEADER_DATA = 1 << 20


def _capped_tarinfo(archive: Path, limits: ArchiveLimits) -> type[Any]:
    """A TarInfo that refuses oversized headers before tarfile reads them, and members larger than the whole
    archive may be, or sparse ones (whose holes expand without limit), before their data is touched."""
    import tarfile

    meta_types = (
        tarfile.GNUTYPE_LONGNAME,
        tarfile.GNUTYPE_LONGLINK,
        tarfile.XHDTYPE,
        tarfile.XGLTYPE,
        tarfile.SOLARIS_XHDTYPE,
    )

    class CappedTarInfo(tarfile.TarInfo):
        def _proc_member(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
            if self.type in meta_types and self.size > MAX_HEADER_DATA:
                raise DataRejected(f"{archive}: corrupt archive: a {self.size}-byte tar header (decompression bomb?)")
            member: tarfile.TarInfo = super()._proc_member(tar)  # type: ignore[misc]
            if member.issparse():
                raise DataRejected(f"{archive}: unsupported archive member {member.name!r} (a sparse file)")
            if member.size > limits.total:
                raise _too_large(archive, f"member {member.name!r} is {member.size} bytes", limits.total)
            return member

    return CappedTarInfo


def _too_large(archive: Path, what: str, limit: int) -> DatasetError:
    return DataRejected(
        f"{archive}: archive too large once decompressed: {what}, over the {limit}-byte limit "
        "for this dataset format (decompression bomb?)"
    )


class _CappedStream(io.RawIOBase):
    """The decompressed stream, refusing to produce more than `limit` bytes in all."""

    def __init__(self, stream: IO[bytes] | io.BufferedIOBase, archive: Path, limit: int) -> None:
        super().__init__()
        self._stream, self._archive, self._limit, self.produced = stream, archive, limit, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size if size >= 0 else self._limit + 1 - self.produced)
        self.produced += len(data)
        if self.produced > self._limit:
            raise _too_large(self._archive, f"over {self._limit} bytes", self._limit)
        return data


def iter_archive(
    archive: Path,
    limits: ArchiveLimits,
    wanted: Callable[[str], bool] = lambda name: True,
    progress: Progress | None = None,
    headers_only: bool = False,
) -> Iterator[tuple[str, bytes]]:
    """One streaming pass over a (gzip/bz2/xz-compressed) tar: yields (member name, contents) for every
    regular file whose normalised name is `wanted`, in archive order (other members are skipped without
    being held in memory). Names are normalised ('./' stripped); unsafe names are refused; `limits` are
    enforced as the archive is read. A compressed archive is read to the end of its compressed stream, so
    truncation is always detected. With `headers_only`, contents are not read (b"" is yielded)."""
    import lzma
    import tarfile
    import zlib

    errors = (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError, ValueError)
    try:
        raw: IO[bytes] = archive.open("rb")
    except FileNotFoundError:
        raise DatasetError(f"{archive}: no such file") from None
    except OSError as exc:
        raise DatasetError(f"{archive}: cannot read: {exc.strerror or exc}") from None
    with raw:
        total = os.fstat(raw.fileno()).st_size
        reported = -1
        try:
            decompressed = _decompressed(raw)
            stream = _CappedStream(decompressed, archive, limits.total)
            tar = tarfile.open(fileobj=stream, mode="r|", tarinfo=_capped_tarinfo(archive, limits))  # noqa: SIM115
        except DatasetError:
            raise
        except errors as exc:
            raise _corrupt(archive, exc) from None
        with decompressed, tar:
            count = 0
            while True:
                try:
                    member = tar.next()
                    tar.members.clear()  # type: ignore[attr-defined]  # a streaming pass keeps no index
                    if member is None:
                        # tarfile stops quietly on a short header: make the decompressor reach its
                        # end-of-stream marker (EOFError when the file is cut short)
                        while decompressed is not raw and stream.read(_CHUNK):
                            pass
                        break
                    count += 1
                    if count > limits.members:
                        raise _too_large(archive, f"more than {limits.members} entries", limits.members)
                    name = _safe_name(archive, member.name)
                    if not member.isfile() or not wanted(name):
                        continue
                    if member.size > limits.member:
                        raise _too_large(archive, f"member {member.name!r} is {member.size} bytes", limits.member)
                    if headers_only:
                        data = b""
                    else:
                        handle = tar.extractfile(member)
                        data = handle.read() if handle is not None else b""
                        if len(data) != member.size:
                            raise DataRejected(f"{archive}: corrupt archive: {member.name} is truncated")
                except DatasetError:
                    raise
                except errors as exc:
                    raise _corrupt(archive, exc) from None
                if progress is not None and raw.tell() - reported >= _CHUNK:
                    reported = raw.tell()
                    progress(f"reading {archive.name}", reported, total)
                yield name, data
        if progress is not None:
            progress(f"reading {archive.name}", total, total)


def check_archive(archive: Path, limits: ArchiveLimits, wanted: Callable[[str], bool]) -> None:
    """A full pass over the archive's headers (contents decompressed and skipped, never held): it opens, is
    complete to the end of its compressed stream, and stays within `limits`."""
    for _ in iter_archive(archive, limits, wanted, headers_only=True):
        pass


def check_archive_header(archive: Path, limits: ArchiveLimits, wanted: Callable[[str], bool]) -> None:
    """Cheap sanity check: the file opens as a (compressed) tar and the headers up to its first wanted member
    read and are within `limits`. Reads headers only: no member's contents are held in memory."""
    for _ in iter_archive(archive, limits, wanted, headers_only=True):
        break
