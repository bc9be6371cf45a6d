"""A minimal Debian base image made here, for builds where no registry can be reached.

`debootstrap --variant=minbase` installs Debian (python3 with pip and venv) from the mirror apt
already uses; a virtual environment at /opt/venv, first on PATH, gives the image a `python` that pip
may install into (Debian's own python3 refuses, PEP 668). The root file system is packed into a
tarball cached under ~/.cache/mlspec/base-images/ and imported into the engine as
`localhost/mlspec-base:<suite>`. An image already there is reused; so is a cached tarball."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mlspec.compile.engines import Engine, EngineError

SUITE = "bookworm"  # python3 3.11, like the interpreter mlspec pins packages for
PACKAGES = ("python3", "python3-pip", "python3-venv", "ca-certificates")
VENV = "/opt/venv"
IMAGE_ENV = {"PATH": f"{VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
APT_SOURCES = Path("/etc/apt")
# Left out of the image: package downloads and indexes only apt needs.
CLEANED = ("var/cache/apt/archives", "var/lib/apt/lists")

Step = Callable[[str], None]


def default_tag(suite: str = SUITE) -> str:
    return f"localhost/mlspec-base:{suite}"


def default_cache() -> Path:
    return Path(os.environ.get("MLSPEC_CACHE", Path.home() / ".cache" / "mlspec")) / "base-images"


@dataclass
class BaseImage:
    tag: str
    source: str  # "engine" (already there), "cache" (imported from a cached tarball), "debootstrap"
    timings_s: dict[str, float] = field(default_factory=dict)  # measured, per step


def apt_mirror(sources: Path = APT_SOURCES) -> str | None:
    """The first Debian archive URL in apt's sources (one-line `deb URL suite` or deb822 `URIs:`),
    leaving out security and backports archives."""
    files = [
        sources / "sources.list",
        *sorted((sources / "sources.list.d").glob("*.list")),
        *sorted((sources / "sources.list.d").glob("*.sources")),
    ]
    for path in files:
        try:
            text = path.read_text()
        except OSError:
            continue
        for match in re.finditer(r"^\s*(?:deb\s+(?:\[[^\]]*\]\s+)?|URIs:\s*)(\S+)", text, re.MULTILINE):
            url = match.group(1)
            if url.startswith(("http://", "https://", "file:")) and not re.search(r"security|backports", url):
                return url.rstrip("/")
    return None


def _rootfs_key(suite: str, packages: Sequence[str]) -> str:
    return hashlib.sha256(f"{suite}\0{','.join(packages)}\0{VENV}".encode()).hexdigest()[:12]


def _check_can_bootstrap() -> str:
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        raise EngineError(
            "debootstrap not found: `apt-get install debootstrap` to make a base image here, or pass --base-image IMAGE"
        )
    if os.geteuid() != 0:
        raise EngineError(
            "debootstrap needs root (it creates device files and runs chroot): run as root, or pass --base-image IMAGE"
        )
    return debootstrap


def _run(command: Sequence[str], what: str, on_step: Step) -> None:
    lines: list[str] = []
    process = subprocess.Popen(
        list(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    )
    assert process.stdout is not None
    for raw in process.stdout:
        lines.append(raw.rstrip())
        on_step(raw.rstrip())
    if process.wait() != 0:
        raise EngineError(f"{what} failed (exit status {process.returncode}):\n" + "\n".join(lines[-20:]))


def bootstrap_rootfs(
    tarball: Path, suite: str, mirror: str, on_step: Step, packages: Sequence[str] = PACKAGES
) -> dict[str, float]:
    """debootstrap + venv into a temporary directory beside tarball, packed into tarball (renamed into
    place only when complete). Returns the measured seconds per step."""
    debootstrap = _check_can_bootstrap()
    tarball.parent.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    work = Path(tempfile.mkdtemp(prefix=".rootfs-", dir=tarball.parent))
    try:
        rootfs = work / "rootfs"
        started = time.monotonic()
        _run(
            [debootstrap, "--variant=minbase", f"--include={','.join(packages)}", suite, str(rootfs), mirror],
            f"debootstrap {suite} from {mirror}",
            on_step,
        )
        timings["debootstrap"] = time.monotonic() - started
        started = time.monotonic()
        _run(["chroot", str(rootfs), "python3", "-m", "venv", VENV], f"python3 -m venv {VENV}", on_step)
        for relative in CLEANED:
            for entry in (rootfs / relative).glob("*"):
                if entry.is_file():
                    entry.unlink()
        timings["venv"] = time.monotonic() - started
        started = time.monotonic()
        partial = work / "rootfs.tar"
        _run(
            ["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(partial), "."],
            "packing the root file system",
            on_step,
        )
        os.replace(partial, tarball)
        timings["pack"] = time.monotonic() - started
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return timings


def ensure_base_image(
    engine: Engine,
    on_step: Step,
    tag: str | None = None,
    suite: str = SUITE,
    mirror: str | None = None,
    cache: Path | None = None,
) -> BaseImage:
    """The base image `tag` in engine: reused if there, else imported from the cached tarball, else
    bootstrapped with debootstrap from `mirror` (default: apt's)."""
    tag = tag or default_tag(suite)
    if engine.image_exists(tag):
        return BaseImage(tag, "engine")
    tarball = (cache or default_cache()) / f"{suite}-{_rootfs_key(suite, PACKAGES)}.tar"
    timings: dict[str, float] = {}
    source = "cache"
    if not tarball.exists():
        mirror = mirror or os.environ.get("MLSPEC_DEBIAN_MIRROR") or apt_mirror()
        if mirror is None:
            raise EngineError(f"no Debian mirror found in {APT_SOURCES}/sources.list*: set MLSPEC_DEBIAN_MIRROR=URL")
        timings = bootstrap_rootfs(tarball, suite, mirror, on_step)
        source = "debootstrap"
    started = time.monotonic()
    engine.import_rootfs(tarball, tag, IMAGE_ENV, on_step)
    timings["import"] = time.monotonic() - started
    return BaseImage(tag, source, timings)
