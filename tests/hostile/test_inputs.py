"""Hostile inputs to the files mlspec reads: spec files that never end, YAML it must refuse cleanly,
decompression bombs, truncated downloads, symlinks out of dataset folders, and data errors that no retry
can fix. Each must give one line and exit status 2, without taking the host's memory or hanging."""

from __future__ import annotations

import gzip
import http.server
import io
import os
import random
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlspec import spec
from mlspec.cli import main
from mlspec.datasets import DatasetError, load_dataset, verify_source
from mlspec.datasets.base import DataRejected
from mlspec.datasets.sources import ArchiveLimits, cache_path, iter_archive
from mlspec.errors import RunRejected, SpecError, is_permanent

REPO = Path(__file__).resolve().parents[2]

SPEC = """\
name: hostile
datasets:
  imdb:
    format: imdb
    path: {path}
stages:
  prep: {{kind: preprocess, dataset: imdb, max_features: 64, min_df: 1}}
"""


def _mlspec(args: list[str], cwd: Path, memory_kb: int | None = None, timeout: float = 120) -> tuple[int, list[str]]:
    """Run the CLI in its own process (optionally under `ulimit -v`); returns (exit status, output lines)."""
    command = " ".join(f"'{a}'" for a in [sys.executable, "-m", "mlspec", *args])
    if memory_kb is not None:
        command = f"ulimit -v {memory_kb}; exec {command}"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    return proc.returncode, (proc.stdout + proc.stderr).splitlines()


def _words(rng: random.Random, n: int) -> str:
    return " ".join("".join(rng.choice("abcdefghij") for _ in range(6)) for _ in range(n))


def write_imdb(root: Path, per_label: int = 3, words: int = 20) -> Path:
    rng = random.Random(0)
    folder = root / "aclImdb"
    for split in ("train", "test"):
        for label in ("pos", "neg"):
            (folder / split / label).mkdir(parents=True)
            for i in range(per_label):
                (folder / split / label / f"{i}_{7 if label == 'pos' else 2}.txt").write_text(_words(rng, words))
    return folder


def tar_gz(folder: Path, archive: Path) -> Path:
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return archive


# ---------------------------------------------------------------- 1. decompression bombs


def write_bomb(path: Path, size: int = 3 << 30) -> Path:
    """A .tar.gz whose first member is `size` bytes of zeros, built without holding them: gzip allows
    concatenated members, so one compressed 64 MiB block of zeros is written again and again (~3 MB)."""
    block = 64 << 20
    info = tarfile.TarInfo("aclImdb/train/pos/0_9.txt")
    info.size = size
    zeros = gzip.compress(bytes(block), compresslevel=9)
    with path.open("wb") as f:
        f.write(gzip.compress(info.tobuf(format=tarfile.GNU_FORMAT)))
        for _ in range(size // block):
            f.write(zeros)
        f.write(gzip.compress(bytes(size % block + 2 * tarfile.BLOCKSIZE)))
    return path


def test_decompression_bomb_is_refused_from_its_header_under_a_memory_limit(tmp_path: Path) -> None:
    bomb = write_bomb(tmp_path / "bomb.tar.gz")
    assert bomb.stat().st_size < 8 << 20
    (tmp_path / "bomb.yaml").write_text(SPEC.format(path="bomb.tar.gz"))
    for command in (["validate", "bomb.yaml"], ["run", "bomb.yaml", "--runs-dir", "runs"]):
        code, lines = _mlspec(command, tmp_path, memory_kb=2_000_000)
        assert code == 2, lines
        assert len(lines) == 1 and "decompression bomb" in lines[0], lines
    assert not (tmp_path / "runs").exists()


def _tar(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", format=tarfile.GNU_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_archive_limits_apply_while_streaming(tmp_path: Path) -> None:
    limits = ArchiveLimits(member=1000, total=64 << 10, members=50)
    cases = {
        "member": [("a/train/pos/1_9.txt", bytes(2000))],
        "total": [(f"skip/{i}", bytes(10_000)) for i in range(10)],
        "entries": [(f"skip/{i}", b"") for i in range(60)],
        "header": [("x" * (2 << 20), b"")],  # a GNU long-name header of 2 MiB, read whole by tarfile
    }
    for case, members in cases.items():
        archive = tmp_path / f"{case}.tar.gz"
        archive.write_bytes(_tar(members))
        with pytest.raises(DataRejected) as info:
            list(iter_archive(archive, limits, lambda name: name.startswith("a/")))
        assert "\n" not in str(info.value), case
    # members that are not wanted are skipped, not read: a big one passes the member limit
    archive = tmp_path / "fine.tar.gz"
    archive.write_bytes(_tar([("skip/big", bytes(20_000)), ("a/ok", b"hello")]))
    assert list(iter_archive(archive, limits, lambda name: name.startswith("a/"))) == [("a/ok", b"hello")]


# ---------------------------------------------------------------- 2. spec paths that never end


def test_spec_that_is_a_device_or_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "pipeline.yaml"
    os.mkfifo(fifo)
    for path in ("/dev/zero", str(fifo)):
        code, lines = _mlspec(["validate", path], tmp_path, timeout=60)  # the old code hung on the FIFO
        assert code == 2, lines
        assert lines == [f"{path}: not a regular file (a device, FIFO or socket); expected a pipeline.yaml file"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_arbitrary_bytes_as_a_spec_give_a_spec_error_or_a_pipeline(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "any.yaml"
    path.write_bytes(raw)
    try:
        spec.load(path, note=lambda message: None)
    except SpecError as exc:
        assert str(exc) and all(line.startswith(str(path)) for line in str(exc).splitlines())


# ---------------------------------------------------------------- 3. truncated downloads


class _Handler(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/gzip")  # no Content-Length: the end is the close
        self.end_headers()
        self.wfile.write(type(self).body)

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def http_server() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.protocol_version = "HTTP/1.0"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_truncated_download_is_not_cached_and_a_bad_cached_copy_is_fetched_again(
    tmp_path: Path, http_server: tuple[str, type[_Handler]], capfd: pytest.CaptureFixture[str]
) -> None:
    base, handler = http_server
    good = tar_gz(write_imdb(tmp_path / "src", per_label=40, words=200), tmp_path / "imdb.tar.gz").read_bytes()
    url = f"{base}/imdb.tar.gz"
    cache = tmp_path / "cache"
    config = {"format": "imdb", "path": url}
    handler.body = good[: len(good) * 2 // 3]
    with pytest.raises(DatasetError, match="download failed: not a usable archive: corrupt archive"):
        verify_source(config, cache)
    assert not cache_path(url, cache).exists()
    assert [p for p in cache.iterdir() if not p.name.startswith(".")] == []
    # a truncated copy cached by an older version: removed with a note, fetched again
    cache_path(url, cache).write_bytes(good[: len(good) // 2])
    handler.body = good
    assert verify_source(config, cache) == cache_path(url, cache)
    assert cache_path(url, cache).read_bytes() == good
    notes = [line for line in capfd.readouterr().err.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "cached download is unusable" in notes[0]
    assert len(load_dataset(config, cache).train_y) == 80
    assert capfd.readouterr().err == ""  # verified once: no note, no second check


# ---------------------------------------------------------------- 4. symlinks out of dataset folders


def test_symlinks_leading_outside_a_dataset_folder_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:secret-token-in-the-vocabulary")
    folder = write_imdb(tmp_path / "data")
    inside = folder / "train" / "pos" / "50_8.txt"
    inside.symlink_to(folder / "train" / "pos" / "0_7.txt")  # inside the folder: fine
    assert len(load_dataset({"format": "imdb", "path": str(folder)}, tmp_path).train_y) == 7
    (folder / "train" / "neg" / "99_1.txt").symlink_to(secret)
    with pytest.raises(DataRejected, match="outside the dataset folder") as info:
        load_dataset({"format": "imdb", "path": str(folder)}, tmp_path)
    assert "\n" not in str(info.value)
    # a linked split folder leading out is refused too
    outside = tmp_path / "elsewhere"
    (folder / "test" / "pos").rename(outside)
    (folder / "test" / "pos").symlink_to(outside)
    (folder / "train" / "neg" / "99_1.txt").unlink()
    with pytest.raises(DataRejected, match="outside the dataset folder"):
        load_dataset({"format": "imdb", "path": str(folder)}, tmp_path)


def test_cifar_batch_symlinked_outside_is_refused(tmp_path: Path) -> None:
    from mlspec.datasets import cifar10

    folder = tmp_path / "cifar" / cifar10.FOLDER
    folder.mkdir(parents=True)
    for name in cifar10.REQUIRED:
        (folder / name).write_bytes(b"not read: the link is refused first")
    (folder / cifar10.META).unlink()
    (folder / cifar10.META).symlink_to("/etc/passwd")
    with pytest.raises(DataRejected, match="outside the dataset folder"):
        load_dataset({"format": "cifar10", "path": str(folder.parent)}, tmp_path)


# ---------------------------------------------------------------- 5. bad input as one line, exit 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\n<<: {a: 1}\n", ":2:1: YAML merge keys (<<) are not allowed"),
        ("name: x\nseed: " + "9" * 5000 + "\n", ":2:7: a number with 5000 digits"),
        (SPEC.format(path="~nosuchuser/x"), ":5:11: cannot expand '~nosuchuser': no such user"),
        (SPEC.format(path="a" * 5000), "characters): cannot read: File name too long"),
    ],
    ids=["merge-key", "huge-int", "no-such-user", "long-path"],
)
def test_bad_yaml_and_paths_are_one_line_exit_2(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert len(result.output.splitlines()) == 1 and expected in result.output, result.output


@pytest.mark.parametrize("path", ["~nosuchuser/x", "a" * 5000], ids=["no-such-user", "long-path"])
def test_bad_spec_and_set_paths_are_one_line_exit_2(tmp_path: Path, path: str) -> None:
    (tmp_path / "ok.yaml").write_text(SPEC.format(path="data"))
    for args in (
        ["validate", path],
        ["validate", str(tmp_path / "ok.yaml"), "--set", f"datasets.imdb.path={path}"],
        ["run", str(tmp_path / "ok.yaml"), "--set", f"datasets.imdb.path={path}"],
    ):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2, result.output
        assert len(result.output.splitlines()) == 1 and len(result.output) < 600, result.output


def test_only_refused_data_counts_as_permanent() -> None:
    assert is_permanent(f"DataRejected: {DataRejected('x.tar.gz: corrupt archive')}")
    assert not is_permanent("DatasetError: https://example.com/x: download failed: timed out")
    assert not is_permanent("ConnectionError: redis went away")
    assert not is_permanent(None)


def test_a_data_error_in_a_function_is_not_retried_and_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An archive whose head is fine (so the pre-run check passes) but whose end is cut off: the
    preprocess function finds it corrupt, and restarting it (retries: 2) could only find the same."""
    from mlspec.executors.base import Limits
    from mlspec.executors.coordinator import SilentReporter, new_run_dir, run_pipeline
    from mlspec.executors.local import LocalProcessExecutor

    monkeypatch.setenv("MLSPEC_CACHE", str(tmp_path / "cache"))
    whole = tar_gz(write_imdb(tmp_path / "src", per_label=60, words=200), tmp_path / "whole.tar.gz").read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(whole[: len(whole) * 3 // 4])
    (tmp_path / "cut.yaml").write_text(SPEC.format(path="cut.tar.gz"))
    pipeline = spec.load(tmp_path / "cut.yaml")
    run_dir = new_run_dir(tmp_path / "runs", pipeline)
    with pytest.raises(RunRejected) as info:
        run_pipeline(
            pipeline, "cut.yaml", [], LocalProcessExecutor(run_dir.logs), run_dir, SilentReporter(), Limits(2048, 300)
        )
    assert info.value.exit_code == 2 and "corrupt archive" in str(info.value)
    from mlspec.records.model import RunRecord

    record = RunRecord.model_validate_json(run_dir.record_file.read_text())
    prep = [i for i in record.invocations if i.stage == "prep"]
    assert len(prep) == 1 and prep[0].status == "error"
