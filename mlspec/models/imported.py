"""Models users bring, named by import path (mlspec.user_code): `nets.py:ResNet9` (a file beside the spec) or
`package.module:Class` (an installed package). The class is a `torch.nn.Module` (wrapped in TorchClassifier)
or a scikit-learn estimator with `partial_fit` (wrapped in SklearnClassifier); `model_options` are its
constructor's keyword arguments, and a constructor taking `num_classes` (or `in_features`, for text) gets it
from the data when the options leave it out."""

from __future__ import annotations

import sys
from typing import Any

from mlspec.errors import UserCodeError
from mlspec.references import load
from mlspec.user_code import construct, load_object, parameters

# What wraps each kind of brought class; loaded when used, so a scikit-learn model never imports torch.
WRAPPERS = {
    "torch": "mlspec.models.torch_classifier:TorchClassifier",
    "sklearn": "mlspec.models.sklearn_classifier:SklearnClassifier",
}


def build_imported(name: str, options: dict[str, Any], data_meta: dict[str, Any], seed: int) -> Any:
    """A freshly initialised model of the class `name` names (the same seed, the same parameters)."""
    cls, origin = load_object(name, options.get("code", {}).get("model"), "class")
    kwargs = dict(options.get("model_options") or {})
    if _is_torch_module(cls):
        import torch

        torch.manual_seed(seed)
        net = construct(cls, _with_data_sizes(cls, kwargs, data_meta), f"model {name}", origin, "model_options")
        return load(WRAPPERS["torch"])(net, options, data_meta, origin=origin)
    if callable(getattr(cls, "partial_fit", None)):
        if "random_state" in parameters(cls) and "random_state" not in kwargs:
            kwargs["random_state"] = seed
        return load(WRAPPERS["sklearn"])(
            construct(cls, kwargs, f"model {name}", origin, "model_options"), data_meta, name
        )
    raise UserCodeError(f"{name}: neither a torch.nn.Module nor a scikit-learn estimator with partial_fit")


def _with_data_sizes(cls: type, kwargs: dict[str, Any], data_meta: dict[str, Any]) -> dict[str, Any]:
    sizes = {"num_classes": len(data_meta["classes"]), "in_features": data_meta.get("features")}
    accepted = parameters(cls)
    return {**{k: v for k, v in sizes.items() if k in accepted and v is not None}, **kwargs}


def _is_torch_module(cls: type) -> bool:
    if "torch" not in sys.modules:  # a class from code that never imported torch is no torch module
        return False
    import torch

    return issubclass(cls, torch.nn.Module)
