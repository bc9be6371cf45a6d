"""FunctionGraph x targets -> container build contexts (and images, when an engine is found).

One context per function (FunctionNode) x platform, rendered from the platform's image templates
(`Platform.image`, e.g. `mlspec/platforms/aws_lambda/image/`): a Dockerfile,
the platform's handler shim, a pinned `requirements.txt` with only that function's packages, the
function's static event (`function.json`), a copy of the `mlspec` package source, the files the spec names by
import path that the function runs (`user_code/<sha256[:16]>/<name>`) and `.dockerignore`.

Contexts are byte-for-byte reproducible: files are written in sorted order with fixed modes and
mtimes, and nothing in them depends on the time or the output path. Each is tagged by a hash of its
files (`mlspec-<pipeline>-<stage>-<platform>:<sha12>`). A whole build is written to a temporary
directory and renamed into place, so a half-written build is never left looking complete; the
`manifest.json` beside the contexts lists every context with its hash, tag and image status."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import mlspec
from mlspec.compile.engines import Engine, EngineError, by_digest, fill_wheelhouse, find_engine
from mlspec.compile.graph import FunctionGraph, FunctionNode, graph
from mlspec.errors import MlspecError, UsageError
from mlspec.files import write_atomically
from mlspec.providers.platform import ImageFacts
from mlspec.providers.registry import get_platform, image_platforms, provider_keys
from mlspec.spec.models import Pipeline, TargetBase
from mlspec.storage import LOCAL_STORE

# What every function needs at run time besides its own requirements (mlspec.runtime imports numpy only).
RUNTIME_REQUIREMENTS = ("numpy",)
STORE_REQUIREMENTS = {
    "s3": ("boto3",),
    "gcs": ("google-cloud-storage",),
    "azure_blob": ("azure-storage-blob", "azure-identity"),  # azure-identity: account_url with a managed identity
    "redis": ("redis", "hiredis"),  # hiredis: replies parsed in C, 3x faster on the shared state (measured)
}
# A local version label such as "+cpu" is only found on the project's own index.
LOCAL_VERSION_INDEXES = {"torch": {"cpu": "https://download.pytorch.org/whl/cpu"}}

MANIFEST = "manifest.json"
USER_CODE = "user_code"  # the folder of brought files in a context and, copied, in the image's app folder
FIXED_MTIME = 315532800  # 1980-01-01T00:00:00Z, the earliest a zip entry can hold
DOCKERIGNORE = "**/__pycache__\n**/*.pyc\n.git\n"
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class BuildError(MlspecError):
    exit_code = 1


# ---------------------------------------------------------------- data


@dataclass(frozen=True)
class BuildContext:
    """One rendered context, in memory: relative path -> file contents."""

    pipeline: str
    stage: str
    function: str
    platform: str
    files: Mapping[str, bytes] = field(repr=False)
    requirements: tuple[str, ...] = ()
    unpinned: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.stage}-{self.platform}"

    @property
    def digest(self) -> str:
        return context_hash(self.files)

    @property
    def tag(self) -> str:
        repository = f"mlspec-{self.pipeline}-{self.stage}-{self.platform}".lower()
        return f"{repository}:{self.digest[:12]}"


def context_hash(files: Mapping[str, bytes]) -> str:
    """sha256 over every (path, length, contents) in path order: equal hashes, equal contexts."""
    digest = hashlib.sha256()
    for path in sorted(files):
        data = files[path]
        digest.update(path.encode() + b"\0" + str(len(data)).encode() + b"\0")
        digest.update(data)
    return digest.hexdigest()


# ---------------------------------------------------------------- rendering


def image_facts(platform: str) -> ImageFacts:
    """How images are made for `platform`; a platform without an image is a usage error."""
    facts = get_platform(platform).image if platform in provider_keys() else None
    if facts is None:
        raise UsageError(f"no image for platform {platform!r} (known: {', '.join(image_platforms())})")
    return facts


def render(template: str, values: Mapping[str, str], source: str = "<template>") -> str:
    """Replace every {{name}}; a name without a value is an error, not a silent blank."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise BuildError(f"{source}: no value for {{{{{name}}}}}")
        return values[name]

    return _PLACEHOLDER.sub(substitute, template)


def pin(names: Iterable[str]) -> tuple[list[str], list[str], list[str]]:
    """Requirement lines pinned to the versions installed here; extra index lines; names not installed."""
    lines, indexes, unpinned = [], set(), []
    for name in sorted(set(names), key=str.lower):
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            lines.append(name)
            unpinned.append(name)
            continue
        lines.append(f"{name}=={version}")
        label = version.partition("+")[2]
        if label and label in LOCAL_VERSION_INDEXES.get(name, {}):
            indexes.add(f"--extra-index-url {LOCAL_VERSION_INDEXES[name][label]}")
    return lines, sorted(indexes), unpinned


def package_source() -> dict[str, bytes]:
    """The mlspec package as it is here (sources and package data), under `mlspec/`."""
    root = Path(mlspec.__file__).resolve().parent
    files: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if not path.is_file() or "__pycache__" in relative.parts or path.suffix in (".pyc", ".pyo"):
            continue
        if relative.parts[0] == "platforms" and "image" in relative.parts:  # rendered into it, not shipped
            continue
        if path.suffix in (".py", ".yaml", ".json") or path.name == "py.typed":
            files[f"mlspec/{relative.as_posix()}"] = path.read_bytes()
    return files


def _hms(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def static_event(node: FunctionNode) -> dict[str, Any]:
    """The part of every invocation event of this function that is known before the run."""
    return {**node.config, "function": node.function, "stage": node.stage}


def brought_files(node: FunctionNode) -> dict[str, bytes]:
    """The files the spec names by import path that the function runs, at user_code/<sha256[:16]>/<name> (as the
    functions keep them, mlspec.user_code), with their bytes as read: from `options.code` of a train, tune or
    preprocess event, and `code` of an evaluate or serve one (compile.graph.brought_code)."""
    code = {**node.config.get("options", {}).get("code", {}), **node.config.get("code", {})}
    return {f"{USER_CODE}/{found['sha256'][:16]}/{found['name']}": found["source"].encode() for found in code.values()}


def render_context(
    pipeline: Pipeline,
    node: FunctionNode,
    platform: str,
    target: TargetBase,
    base_image: str | None = None,
    *,
    source: Mapping[str, bytes] | None = None,
) -> BuildContext:
    image = image_facts(platform)
    template_dir = image.template_dir()
    memory_mb = node.memory_mb or target.memory_mb
    timeout_s = node.timeout_s or target.timeout_s
    brought = brought_files(node)
    values = {
        "pipeline": pipeline.name,
        "stage": node.stage,
        "function": node.function,
        "platform": platform,
        "base_image": base_image or image.base_image,
        "memory_mb": str(memory_mb),
        "timeout_s": f"{timeout_s:g}",
        "function_timeout": _hms(timeout_s),
        # A prefix of the line copying user_code/: COPY fails on a folder the context lacks.
        "if_user_code": "" if brought else "# (no files brought by import path) ",
    }
    files: dict[str, bytes] = {}
    for path in sorted(template_dir.iterdir()):
        if not path.is_file() or path.name.startswith(".") or path.suffix in (".pyc", ".pyo"):
            continue
        if path.suffix == ".tmpl":
            files[path.stem] = render(path.read_text(), values, str(path)).encode()
        else:
            files[path.name] = path.read_bytes()
    if "Dockerfile" not in files:
        raise BuildError(f"{template_dir}: no Dockerfile.tmpl")

    # A spec with a local object store runs on a cloud with that cloud's own store (deploy.run_target).
    object_store: str = pipeline.storage.object_store.kind
    if object_store == LOCAL_STORE:
        object_store = get_platform(platform).object_store_kind or object_store
    stores = (object_store, pipeline.storage.param_store.kind)
    names = [*RUNTIME_REQUIREMENTS, *node.requirements, *image.shim_requirements]
    names += [name for kind in stores for name in STORE_REQUIREMENTS.get(kind, ())]
    lines, indexes, unpinned = pin(names)
    # Names no stage: functions with the same packages get byte-identical files, so an engine's layer
    # cache installs them once (e.g. torch for both training and evaluation).
    header = [f"# pinned by `mlspec build` for the {platform} platform"]
    files["requirements.txt"] = "\n".join([*header, *indexes, *lines, ""]).encode()

    config = {
        "pipeline": pipeline.name,
        "stage": node.stage,
        "kind": node.kind,
        "function": node.function,
        "platform": platform,
        "fan_out": node.fan_out,
        "after": list(node.after),
        "retries": node.retries,
        "limits": {"memory_mb": memory_mb, "timeout_s": timeout_s},
        "target": target.model_dump(mode="json"),
        "event": static_event(node),
    }
    files["function.json"] = (json.dumps(config, indent=2, sort_keys=True, default=str) + "\n").encode()
    files[".dockerignore"] = DOCKERIGNORE.encode()
    files.update(source if source is not None else package_source())
    files.update(brought)
    return BuildContext(pipeline.name, node.stage, node.function, platform, files, tuple(lines), tuple(unpinned))


def select_targets(pipeline: Pipeline, requested: Iterable[str] = ()) -> dict[str, TargetBase]:
    """The platforms to build for: those asked for (each must be configured), else every configured one
    that has a runtime."""
    configured = pipeline.targets.configured()
    requested = list(dict.fromkeys(requested))
    for platform in requested:
        if platform not in image_platforms():
            raise UsageError(f"no runtime for target {platform!r} (known: {', '.join(image_platforms())})")
        if platform not in configured:
            raise UsageError(
                f"target {platform!r} is not configured in the spec's `targets` (configured: {', '.join(configured)})"
            )
    chosen = requested or [p for p in configured if p in image_platforms()]
    return {p: configured[p] for p in chosen}


# Where a stage's functions are built for: a platform and its settings (stage -> (platform, target)).
Placement = Mapping[str, tuple[str, TargetBase]]


def placements(
    function_graph: FunctionGraph, targets: Mapping[str, TargetBase]
) -> list[tuple[FunctionNode, str, TargetBase]]:
    """Every function on every target (what `build` does without a plan)."""
    return [(node, platform, target) for node in function_graph.nodes for platform, target in targets.items()]


def render_all(
    pipeline: Pipeline, placed: list[tuple[FunctionNode, str, TargetBase]], base_image: str | None = None
) -> list[BuildContext]:
    source = package_source()
    return [
        render_context(pipeline, node, platform, target, base_image, source=source) for node, platform, target in placed
    ]


# ---------------------------------------------------------------- writing


def _fix_times(root: Path) -> None:
    for path in sorted(root.rglob("*"), reverse=True):
        os.utime(path, (FIXED_MTIME, FIXED_MTIME), follow_symlinks=False)
    os.utime(root, (FIXED_MTIME, FIXED_MTIME))


def _write_context(directory: Path, context: BuildContext) -> None:
    for relative in sorted(context.files):
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(context.files[relative])
        path.chmod(0o644)
    for sub in sorted(p for p in directory.rglob("*") if p.is_dir()):
        sub.chmod(0o755)
    _fix_times(directory)


def manifest_entry(context: BuildContext) -> dict[str, Any]:
    return {
        "name": context.name,
        "dir": context.name,
        "stage": context.stage,
        "function": context.function,
        "platform": context.platform,
        "hash": context.digest,
        "tag": context.tag,
        "requirements": list(context.requirements),
        "unpinned": list(context.unpinned),
        "image": {"built": False, "engine": None, "error": None},
    }


def write_manifest(directory: Path, manifest: Mapping[str, Any]) -> None:
    """Atomically: a reader sees the old manifest or the new one, never half of one."""
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    write_atomically(directory / MANIFEST, text.encode(), mode=0o644, mtime=FIXED_MTIME)


def write_contexts(out: Path, pipeline_name: str, contexts: list[BuildContext]) -> tuple[Path, dict[str, Any]]:
    """Write every context and the manifest under OUT/<pipeline>/, replacing an earlier build there
    only once everything is written."""
    out.mkdir(parents=True, exist_ok=True)
    final = out / pipeline_name
    staging = Path(tempfile.mkdtemp(prefix=f".{pipeline_name}.", dir=out))
    try:
        for context in contexts:
            _write_context(staging / context.name, context)
        manifest = {
            "format": 1,
            "pipeline": pipeline_name,
            "contexts": [manifest_entry(c) for c in contexts],
        }
        write_manifest(staging, manifest)
        staging.chmod(0o755)
        old = None
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{pipeline_name}.old.", dir=out))
            os.replace(final, old / "build")
        os.replace(staging, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final, manifest


# ---------------------------------------------------------------- building


def pushed(engine: Engine, tag: str, registry: str, on_line: Callable[[str], None]) -> dict[str, str]:
    """Push the local image `tag` to registry; what the manifest records of it: the pushed tag and
    the reference by digest (what deploys and pulls should name: a tag can be moved, a digest cannot)."""
    uri = f"{registry.rstrip('/')}/{tag.rsplit('/', 1)[-1]}"
    digest = engine.push(tag, uri, on_line)
    return {"uri": uri, "digest": digest, "reference": by_digest(uri, digest)}


class BuildProgress(Protocol):
    def started(self, context: BuildContext, index: int, total: int) -> None: ...

    def line(self, context: BuildContext, text: str) -> None: ...

    def finished(self, context: BuildContext, error: str | None) -> None: ...


@dataclass
class BuildResult:
    directory: Path
    manifest: dict[str, Any]
    contexts: list[BuildContext]
    engine: str | None
    note: str

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [c for c in self.manifest["contexts"] if c["image"]["error"]]


def build(
    pipeline: Pipeline,
    out: Path,
    targets: Iterable[str] = (),
    engine: str = "auto",
    base_image: str | None = None,
    progress: BuildProgress | None = None,
    wheelhouse: Path | None = None,
    push_to: str | None = None,
    placement: Placement | None = None,
) -> BuildResult:
    """Render and write every context; then, with an engine, build each image, recording in the
    manifest which were built. Stops at the first failed image (the rest are marked skipped). With a
    wheelhouse, pip fills it on the host and the builds install only from it (no network in a build).
    With push_to (a registry, optionally with a path: `host:port/team`), each built image is pushed
    there and the manifest records the digest the registry stored it under. With a placement (a plan),
    each function is built only for its stage's planned platform and settings."""

    functions = graph(pipeline)
    if placement is None:
        placed = placements(functions, select_targets(pipeline, targets))
    else:
        placed = [(node, *placement[node.stage]) for node in functions.nodes]
    contexts = render_all(pipeline, placed, base_image)
    directory, manifest = write_contexts(out, pipeline.name, contexts)
    try:
        found, note = find_engine(engine)
        if found is not None and wheelhouse is not None:
            fill_wheelhouse(wheelhouse, [directory / c.name / "requirements.txt" for c in contexts], lambda text: None)
    except EngineError as exc:
        for entry in manifest["contexts"]:
            entry["image"]["error"] = str(exc)
        write_manifest(directory, manifest)
        raise
    result = BuildResult(directory, manifest, contexts, found.name if found else None, note)
    manifest["engine"] = result.engine
    if found is None:
        write_manifest(directory, manifest)
        return result
    failure: str | None = None
    for index, (context, entry) in enumerate(zip(contexts, manifest["contexts"], strict=True)):
        entry["image"]["engine"] = found.name
        if failure is not None:
            entry["image"]["error"] = "skipped: an earlier image failed to build"
            continue
        if progress:
            progress.started(context, index, len(contexts))

        def on_line(text: str, context: BuildContext = context) -> None:
            if progress:
                progress.line(context, text)

        try:
            found.build(directory / context.name, context.tag, on_line, wheelhouse)
            entry["image"]["built"] = True
            if push_to:
                entry["image"]["pushed"] = pushed(found, context.tag, push_to, on_line)
        except EngineError as exc:
            failure = str(exc)
            entry["image"]["error"] = failure
        if progress:
            progress.finished(context, entry["image"]["error"])
        write_manifest(directory, manifest)
    write_manifest(directory, manifest)
    return result
