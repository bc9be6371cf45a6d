"""Loading CIFAR-10 and IMDb from small archives and folders built here in the official formats: local paths,
parent folders, file:// URIs, http:// on a loopback server, checksums and every kind of bad source."""

from __future__ import annotations

import functools
import hashlib
import io
import os
import pickle
import re
import tarfile
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlspec.datasets import Dataset, DatasetError, load_dataset, verify_source

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
BATCH_SIZES = {"data_batch_1": 4, "data_batch_2": 3, "data_batch_3": 3, "data_batch_4": 2, "data_batch_5": 3}
TEST_SIZE = 5


# ---------------------------------------------------------------- builders (official formats)


def _labels(name: str, k: int) -> list[int]:
    offset = sorted([*BATCH_SIZES, "test_batch"]).index(name)
    return [(offset + 3 * i) % 10 for i in range(k)]


def _pixels(name: str, k: int) -> np.ndarray:
    """Row layout of the official files: 1024 R, then 1024 G, then 1024 B values. Image i of a batch has
    R = 10 + i, G = 100 + i, B = 200 + i, with pixel (0, 1) of the red plane set to 1."""
    data = np.empty((k, 3072), dtype=np.uint8)
    for i in range(k):
        data[i, :1024], data[i, 1024:2048], data[i, 2048:] = 10 + i, 100 + i, 200 + i
        data[i, 1] = 1
    return data


def write_cifar_folder(root: Path) -> Path:
    """A tiny cifar-10-batches-py/ with protocol-2 pickles keyed by byte strings, as in the official files."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for i, (name, k) in enumerate([*BATCH_SIZES.items(), ("test_batch", TEST_SIZE)]):
        label = f"training batch {i + 1} of 5" if name != "test_batch" else "testing batch 1 of 1"
        batch = {
            b"batch_label": label.encode(),
            b"labels": _labels(name, k),
            b"data": _pixels(name, k),
            b"filenames": [f"img_{j}.png".encode() for j in range(k)],
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {b"num_cases_per_batch": 10000, b"label_names": [c.encode() for c in CLASSES], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    (folder / "readme.html").write_text("<html></html>")
    return folder


REVIEWS = {
    # (split, label): {file name: text}
    ("train", "pos"): {"0_9.txt": "A great film.", "2_10.txt": "Loved it <br /><br />again", "10_7.txt": "Fine."},
    ("train", "neg"): {"0_1.txt": "Awful.", "1_3.txt": "Bad caf\u00e9 scene", "10_2.txt": "Dull."},
    ("test", "pos"): {"0_8.txt": "Superb.", "1_7.txt": "Nice."},
    ("test", "neg"): {"0_4.txt": "Weak.", "3_2.txt": "Boring."},
}


def write_imdb_folder(root: Path) -> Path:
    folder = root / "aclImdb"
    for (split, label), files in REVIEWS.items():
        (folder / split / label).mkdir(parents=True)
        for name, text in files.items():
            (folder / split / label / name).write_bytes(text.encode())
        (folder / split / f"urls_{label}.txt").write_text("http://www.imdb.com/title/tt0000000/usercomments\n")
    (folder / "train" / "unsup").mkdir()
    (folder / "train" / "unsup" / "0_0.txt").write_text("unlabeled review, ignored")
    (folder / "train" / "neg" / "5_1.txt").write_bytes(b"bad bytes \xff\xfe here")
    (folder / "README").write_text("readme")
    (folder / "imdb.vocab").write_text("the\nand\n")
    return folder


def tar_gz(folder: Path, archive: Path) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return archive


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def cifar_tgz(tmp_path: Path) -> Path:
    return tar_gz(write_cifar_folder(tmp_path / "src"), tmp_path / "cifar-10-subset.tar.gz")


@pytest.fixture
def imdb_tgz(tmp_path: Path) -> Path:
    return tar_gz(write_imdb_folder(tmp_path / "src"), tmp_path / "aclImdb_v1.tar.gz")


def load(fmt: str, path: Path | str, tmp_path: Path, **extra: Any) -> Dataset:
    return load_dataset({"format": fmt, "path": str(path), **extra}, tmp_path / "cache")


def check_cifar(data: Dataset) -> None:
    n_train = sum(BATCH_SIZES.values())
    assert data.format == "cifar10"
    assert data.classes == CLASSES
    assert data.train_x.shape == (n_train, 32, 32, 3) and data.train_x.dtype == np.uint8
    assert data.test_x.shape == (TEST_SIZE, 32, 32, 3) and data.test_x.dtype == np.uint8
    assert data.train_y.dtype == np.int64 and data.train_y.shape == (n_train,)
    assert data.test_y.dtype == np.int64 and data.test_y.shape == (TEST_SIZE,)
    expected = [y for name, k in BATCH_SIZES.items() for y in _labels(name, k)]
    assert data.train_y.tolist() == expected
    assert data.test_y.tolist() == _labels("test_batch", TEST_SIZE)
    # HWC with channels in R, G, B order; the images of a batch in order
    assert data.train_x[0, 5, 7].tolist() == [10, 100, 200]
    assert data.train_x[0, 0, 1].tolist() == [1, 100, 200]  # row 0, column 1 of the red plane
    assert data.train_x[3, 9, 9].tolist() == [13, 103, 203]
    assert data.train_x[4, 9, 9].tolist() == [10, 100, 200]  # first image of data_batch_2
    assert data.train_x.flags["C_CONTIGUOUS"]


def check_imdb(data: Dataset) -> None:
    assert data.format == "imdb" and data.classes == ["neg", "pos"]
    assert isinstance(data.train_x, list) and all(isinstance(t, str) for t in data.train_x)
    # sorted by numeric id, then label (neg before pos)
    assert data.train_x == [
        "Awful.",
        "A great film.",
        "Bad caf\u00e9 scene",
        "Loved it <br /><br />again",
        "bad bytes \ufffd\ufffd here",
        "Dull.",
        "Fine.",
    ]
    assert data.train_y.tolist() == [0, 1, 0, 1, 0, 0, 1]
    assert data.test_x == ["Weak.", "Superb.", "Nice.", "Boring."]
    assert data.test_y.tolist() == [0, 1, 1, 0]
    assert data.train_y.dtype == np.int64 and data.test_y.dtype == np.int64


# ---------------------------------------------------------------- happy paths


def test_cifar_from_archive_folder_parent_and_file_uri(tmp_path: Path, cifar_tgz: Path) -> None:
    folder = write_cifar_folder(tmp_path / "extracted")
    for path in (cifar_tgz, folder, folder.parent, folder.as_uri(), cifar_tgz.as_uri()):
        data = load("cifar10", path, tmp_path)
        check_cifar(data)
    assert load("cifar10", cifar_tgz, tmp_path).source == str(cifar_tgz)
    assert load("cifar10", cifar_tgz.as_uri(), tmp_path).source == str(cifar_tgz)


def test_imdb_from_archive_folder_parent_and_file_uri(tmp_path: Path, imdb_tgz: Path) -> None:
    folder = write_imdb_folder(tmp_path / "extracted")
    for path in (imdb_tgz, folder, folder.parent, folder.as_uri(), imdb_tgz.as_uri()):
        check_imdb(load("imdb", path, tmp_path))


def test_archive_without_top_folder_and_tgz_suffix(tmp_path: Path) -> None:
    folder = write_imdb_folder(tmp_path / "src")
    archive = tmp_path / "reviews.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        for child in sorted(folder.iterdir()):
            tar.add(child, arcname=f"./{child.name}")
    check_imdb(load("imdb", archive, tmp_path))


def test_max_train_and_max_test_keep_the_first_examples(tmp_path: Path, cifar_tgz: Path, imdb_tgz: Path) -> None:
    full = load("cifar10", cifar_tgz, tmp_path)
    cut = load("cifar10", cifar_tgz, tmp_path, max_train=5, max_test=2)
    assert cut.train_x.shape == (5, 32, 32, 3) and cut.test_y.tolist() == full.test_y[:2].tolist()
    assert np.array_equal(cut.train_x, full.train_x[:5])
    text = load("imdb", imdb_tgz, tmp_path, max_train=2, max_test=100)
    assert text.train_y.tolist() == [0, 1] and len(text.test_x) == 4


def test_checksums_verified_for_local_archives(tmp_path: Path, cifar_tgz: Path) -> None:
    digest = sha256(cifar_tgz)
    md5 = hashlib.md5(cifar_tgz.read_bytes()).hexdigest()
    check_cifar(load("cifar10", cifar_tgz, tmp_path, sha256=digest.upper(), md5=md5))
    wrong = "0" * 64
    with pytest.raises(DatasetError) as err:
        load("cifar10", cifar_tgz, tmp_path, sha256=wrong)
    assert str(err.value) == f"{cifar_tgz}: sha256 mismatch: expected {wrong}, got {digest}"
    with pytest.raises(DatasetError, match=f"md5 mismatch: expected {'1' * 32}, got {md5}"):
        verify_source({"format": "cifar10", "path": str(cifar_tgz), "md5": "1" * 32}, tmp_path)
    # folders have nothing to verify: no error
    folder = write_cifar_folder(tmp_path / "x")
    check_cifar(load("cifar10", folder, tmp_path, sha256=wrong))


def test_official_cifar_name_is_checked_against_the_official_md5(tmp_path: Path, cifar_tgz: Path) -> None:
    official = cifar_tgz.rename(tmp_path / "cifar-10-python.tar.gz")
    with pytest.raises(DatasetError, match="md5 mismatch: expected c58f30108f718f92721af3b95e74349a"):
        load("cifar10", official, tmp_path)
    check_cifar(load("cifar10", official, tmp_path, sha256=sha256(official)))


def test_verify_source(tmp_path: Path, cifar_tgz: Path, imdb_tgz: Path) -> None:
    cache = tmp_path / "cache"
    assert verify_source({"format": "imdb"}, cache) is None
    assert verify_source({"format": "cifar10", "path": None, "synthetic": {"seed": 3}}, cache) is None
    assert verify_source({"format": "cifar10", "path": str(cifar_tgz)}, cache) == cifar_tgz
    assert verify_source({"format": "imdb", "path": imdb_tgz.as_uri(), "sha256": sha256(imdb_tgz)}, cache) == imdb_tgz
    folder = write_imdb_folder(tmp_path / "parent")
    assert verify_source({"format": "imdb", "path": str(folder.parent)}, cache) == folder
    with pytest.raises(DatasetError, match="not an IMDb folder"):
        verify_source({"format": "imdb", "path": str(tmp_path / "parent" / "aclImdb" / "train")}, cache)
    with pytest.raises(DatasetError, match="unknown dataset format 'mnist'"):
        verify_source({"format": "mnist"}, cache)
    with pytest.raises(DatasetError, match="sha256 must be 64 hexadecimal digits"):
        verify_source({"format": "imdb", "path": str(imdb_tgz), "sha256": "abc"}, cache)
    with pytest.raises(DatasetError, match="unsupported scheme s3://"):
        verify_source({"format": "imdb", "path": "s3://bucket/aclImdb_v1.tar.gz"}, cache)


# ---------------------------------------------------------------- bad sources


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "aclImdb_v1.tar.gz"
    for call in (load_dataset, verify_source):
        with pytest.raises(DatasetError) as err:
            call({"format": "imdb", "path": str(missing)}, tmp_path)
        assert str(err.value) == f"{missing}: no such file"
    with pytest.raises(DatasetError, match="no such file"):
        load("cifar10", missing.as_uri(), tmp_path)


@pytest.mark.parametrize("fmt", ["cifar10", "imdb"])
def test_truncated_and_garbage_archives(tmp_path: Path, cifar_tgz: Path, imdb_tgz: Path, fmt: str) -> None:
    source = cifar_tgz if fmt == "cifar10" else imdb_tgz
    data = source.read_bytes()
    truncated = tmp_path / "truncated.tar.gz"
    for cut in (10, len(data) // 3, len(data) * 2 // 3, len(data) - 30, len(data) - 1):
        truncated.write_bytes(data[:cut])
        with pytest.raises(DatasetError) as err:
            load(fmt, truncated, tmp_path)
        assert str(err.value).startswith(f"{truncated}: corrupt archive: ")
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"\x1f\x8b" + os.urandom(2000))
    for call in (load_dataset, verify_source):
        with pytest.raises(DatasetError, match=f"^{re.escape(str(garbage))}: corrupt archive: "):
            call({"format": fmt, "path": str(garbage)}, tmp_path)
    text = tmp_path / "notes.txt"
    text.write_text("not an archive at all\n" * 100)
    with pytest.raises(DatasetError, match="corrupt archive"):
        load(fmt, text, tmp_path)


def test_wrong_layout(tmp_path: Path, cifar_tgz: Path, imdb_tgz: Path) -> None:
    with pytest.raises(DatasetError, match=r"not an IMDb archive: expected aclImdb/ with train/pos"):
        load("imdb", cifar_tgz, tmp_path)
    with pytest.raises(DatasetError, match=r"not a CIFAR-10 archive: expected cifar-10-batches-py/"):
        load("cifar10", imdb_tgz, tmp_path)
    with pytest.raises(DatasetError, match="not a CIFAR-10 folder"):
        load("cifar10", tmp_path, tmp_path)
    folder = write_cifar_folder(tmp_path / "partial")
    (folder / "data_batch_3").unlink()
    with pytest.raises(DatasetError, match="incomplete CIFAR-10 folder: missing data_batch_3"):
        load("cifar10", folder.parent, tmp_path)
    archive = tar_gz(folder, tmp_path / "partial.tar.gz")
    with pytest.raises(DatasetError, match="lacks data_batch_3"):
        load("cifar10", archive, tmp_path)
    reviews = write_imdb_folder(tmp_path / "imdb")
    for review in (reviews / "test" / "neg").iterdir():
        review.unlink()
    with pytest.raises(DatasetError, match="no reviews in test/neg"):
        load("imdb", reviews, tmp_path)
    # a batch file that is a valid pickle but not a batch
    other = write_cifar_folder(tmp_path / "other")
    (other / "test_batch").write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(DatasetError, match="test_batch: not a CIFAR-10 batch"):
        load("cifar10", other, tmp_path)
    (other / "test_batch").write_bytes(b"\x80\x02}q\x00(")
    with pytest.raises(DatasetError, match="test_batch: corrupt pickle"):
        load("cifar10", other, tmp_path)


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    folder = write_cifar_folder(tmp_path / "evil")
    batch = {b"data": _Exploit(marker), b"labels": [0]}
    (folder / "data_batch_2").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DatasetError, match=r"data_batch_2: refusing to unpickle (posix|os)\.system"):
        load("cifar10", folder, tmp_path)
    archive = tar_gz(folder, tmp_path / "evil.tar.gz")
    with pytest.raises(DatasetError, match="refusing to unpickle"):
        load("cifar10", archive, tmp_path)
    # the same with a byte-string encoding trick
    (folder / "data_batch_2").write_bytes(
        b"\x80\x02c_codecs\nencode\nq\x00X\x01\x00\x00\x00xX\x06\x00\x00\x00base64\x86R."
    )
    with pytest.raises(DatasetError, match=r"refusing _codecs\.encode with encoding 'base64'"):
        load("cifar10", folder, tmp_path)
    assert not marker.exists()


def test_unsafe_member_names_are_refused(tmp_path: Path) -> None:
    folder = write_imdb_folder(tmp_path / "src")
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="aclImdb")
        info = tarfile.TarInfo("../../escape.txt")
        payload = b"x"
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    with pytest.raises(DatasetError, match=r"unsafe archive member '\.\./\.\./escape\.txt'"):
        load("imdb", archive, tmp_path)


# ---------------------------------------------------------------- http(s) downloads


class _Server:
    def __init__(self, root: Path) -> None:
        self.requests: list[str] = []
        requests = self.requests

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                requests.append(self.path)
                super().do_GET()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[_Server]:
    root = tmp_path / "www"
    root.mkdir()
    srv = _Server(root)
    yield srv
    srv.close()


def test_http_download_verifies_caches_and_reports_progress(tmp_path: Path, server: _Server) -> None:
    www = tmp_path / "www"
    archive = tar_gz(write_cifar_folder(tmp_path / "src"), www / "cifar-10-subset.tar.gz")
    url = f"{server.url}/cifar-10-subset.tar.gz"
    cache = tmp_path / "cache"
    calls: list[tuple[str, int, int | None]] = []
    config = {"format": "cifar10", "path": url, "sha256": sha256(archive)}
    data = load_dataset(config, cache, lambda what, done, total: calls.append((what, done, total)))
    check_cifar(data)
    assert data.source == url
    assert server.requests == ["/cifar-10-subset.tar.gz"]
    size = archive.stat().st_size
    downloads = [c for c in calls if c[0].startswith("downloading")]
    assert downloads and downloads[-1][1:] == (size, size)
    cached = [p.name for p in cache.iterdir()]
    assert cached == [f"{hashlib.sha256(url.encode()).hexdigest()}-cifar-10-subset.tar.gz"]
    # second load and verify_source: served from the cache, the server is not asked again
    check_cifar(load_dataset(config, cache))
    assert verify_source(config, cache) == cache / cached[0]
    assert len(server.requests) == 1
    # a corrupted cached copy is downloaded again
    (cache / cached[0]).write_bytes(b"junk")
    check_cifar(load_dataset(config, cache))
    assert len(server.requests) == 2


def test_http_checksum_mismatch_and_failures(tmp_path: Path, server: _Server) -> None:
    archive = tar_gz(write_imdb_folder(tmp_path / "src"), tmp_path / "www" / "aclImdb_v1.tar.gz")
    url = f"{server.url}/aclImdb_v1.tar.gz"
    cache = tmp_path / "cache"
    wrong = "f" * 64
    with pytest.raises(DatasetError) as err:
        verify_source({"format": "imdb", "path": url, "sha256": wrong}, cache)
    assert str(err.value) == f"{url}: sha256 mismatch: expected {wrong}, got {sha256(archive)}"
    assert list(cache.iterdir()) == []  # nothing kept: no final file, no partial file
    with pytest.raises(DatasetError, match=f"^{re.escape(server.url)}/missing\\.tar\\.gz: download failed: HTTP 404"):
        load("imdb", f"{server.url}/missing.tar.gz", tmp_path)
    closed = _Server(tmp_path / "www")
    closed.close()
    with pytest.raises(DatasetError, match=f"^{re.escape(closed.url)}/aclImdb_v1\\.tar\\.gz: download failed"):
        load("imdb", f"{closed.url}/aclImdb_v1.tar.gz", tmp_path)
    # without a checksum the download is used as is
    check_imdb(load("imdb", url, tmp_path))
