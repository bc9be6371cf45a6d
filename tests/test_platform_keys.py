"""Only the catalog (mlspec/providers/) and the platforms' own packages (mlspec/platforms/) name a platform;
everything else reads the registries. "local" (this machine) is a store kind and an executor too, so it is
not checked."""

from __future__ import annotations

import ast
from pathlib import Path

import mlspec
from mlspec.providers.registry import LOCAL, provider_keys

PACKAGE = Path(mlspec.__file__).parent
HOMES = ("providers", "platforms")


def _named_platform(text: str, keys: set[str]) -> str | None:
    head = text.split(":", 1)[0]
    return head if head in keys else None


def test_only_providers_and_platforms_name_a_platform() -> None:
    keys = set(provider_keys()) - {LOCAL}
    assert {"aws-lambda", "gcp-cloud-run", "azure-functions"} <= keys
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in HOMES:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                key = _named_platform(node.value, keys)
                if key is not None:
                    found.append(f"{relative}:{node.lineno}: {node.value!r}")
    assert not found, "platform keys outside providers/ and platforms/:\n" + "\n".join(found)


def test_the_check_sees_a_platform_key() -> None:
    keys = set(provider_keys()) - {LOCAL}
    assert _named_platform("aws-lambda:arm64", keys) == "aws-lambda"
    assert _named_platform("gcp-cloud-run", keys) == "gcp-cloud-run"
    assert _named_platform("aws-lambda-like", keys) is None
