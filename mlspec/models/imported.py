"""Models users bring, named by import path: `nets.py:ResNet9` (a file beside the spec) or
`package.module:Class` (an installed package). The class is a `torch.nn.Module` (wrapped in TorchClassifier)
or a scikit-learn estimator with `partial_fit` (wrapped in SklearnClassifier); `model_options` are its
constructor's keyword arguments, and a constructor taking `num_classes` (or `in_features`, for text) gets it
from the data when the options leave it out.

A file's source travels with the stage (`options["code"]`: name, sha256, source; the spec loader reads it),
so a function never reads the user's working directory: it writes the source once per content hash under
the temporary directory and imports it from there. Errors in the user's code are one line naming the user's
file and line (UserCodeError: permanent, so a stage failing with it is not restarted)."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from types import ModuleType
from typing import Any

from mlspec.errors import UserCodeError, exception_line
from mlspec.files import write_atomically
from mlspec.models.user_code import code_dir, user_error
from mlspec.references import load

# What wraps each kind of brought class; loaded when used, so a scikit-learn model never imports torch.
WRAPPERS = {
    "torch": "mlspec.models.torch_classifier:TorchClassifier",
    "sklearn": "mlspec.models.sklearn_classifier:SklearnClassifier",
}


def build_imported(name: str, options: dict[str, Any], data_meta: dict[str, Any], seed: int) -> Any:
    """A freshly initialised model of the class `name` names (the same seed, the same parameters)."""
    cls, origin = load_class(name, options.get("code"))
    kwargs = dict(options.get("model_options") or {})
    if _is_torch_module(cls):
        import torch

        torch.manual_seed(seed)
        net = _construct(cls, _with_data_sizes(cls, kwargs, data_meta), name, origin)
        return load(WRAPPERS["torch"])(net, options, data_meta, origin=origin)
    if callable(getattr(cls, "partial_fit", None)):
        if "random_state" in _parameters(cls) and "random_state" not in kwargs:
            kwargs["random_state"] = seed
        return load(WRAPPERS["sklearn"])(_construct(cls, kwargs, name, origin), data_meta, name)
    raise UserCodeError(f"{name}: neither a torch.nn.Module nor a scikit-learn estimator with partial_fit")


def load_class(name: str, code: dict[str, str] | None) -> tuple[type, str]:
    """The class `module:attr` names, and where it is from (the user's file name, or the module)."""
    module_name, _, attr = name.rpartition(":")
    if code is not None:
        module, origin = _module_from_source(code), code["name"]
    else:
        origin = module_name
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            raise user_error(exc, origin) or UserCodeError(f"model {name}: {exception_line(exc)}") from None
    cls = getattr(module, attr, None)
    if not isinstance(cls, type):
        raise UserCodeError(f"{origin} has no class {attr!r}")
    return cls, origin


def _module_from_source(code: dict[str, str]) -> ModuleType:
    digest = hashlib.sha256(code["source"].encode()).hexdigest()
    if digest != code["sha256"]:
        raise UserCodeError(f"{code['name']}: the source does not match its sha256 (the run's spec was altered)")
    module_name = f"mlspec_user_{digest[:16]}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    path = code_dir() / digest[:16] / code["name"]
    if not path.exists() or path.read_bytes() != code["source"].encode():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, code["source"].encode())
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise user_error(exc, code["name"]) or UserCodeError(f"{code['name']}: {exception_line(exc)}") from None
    return module


def _construct(cls: type, kwargs: dict[str, Any], name: str, origin: str) -> Any:
    try:
        return cls(**kwargs)
    except Exception as exc:
        found = user_error(exc, origin)
        if found is None and isinstance(exc, TypeError):  # the arguments did not fit the constructor
            found = UserCodeError(f"model {name}: {exc} (model_options: {sorted(kwargs)})")
        raise found or exc from None


def _with_data_sizes(cls: type, kwargs: dict[str, Any], data_meta: dict[str, Any]) -> dict[str, Any]:
    sizes = {"num_classes": len(data_meta["classes"]), "in_features": data_meta.get("features")}
    accepted = _parameters(cls)
    return {**{k: v for k, v in sizes.items() if k in accepted and v is not None}, **kwargs}


def _parameters(cls: type) -> set[str]:
    try:
        return set(inspect.signature(cls).parameters)
    except (TypeError, ValueError):
        return set()


def _is_torch_module(cls: type) -> bool:
    if "torch" not in sys.modules:  # a class from code that never imported torch is no torch module
        return False
    import torch

    return issubclass(cls, torch.nn.Module)
