"""Validation and decoding of prediction requests: JSON in, model inputs out, or an `InputError` with a
precise one-line message and the HTTP status it deserves. numpy only, so it is cheap to import.

A request is `{"inputs": [...]}`: texts are strings; images are nested lists of integers 0-255 in
HxWxC or CxHxW order, or base64 of the raw uint8 bytes in HxWxC order."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from mlspec.errors import RequestError
from mlspec.wording import plural


class InputError(RequestError):
    """A request that cannot be served as sent; `status` is the HTTP status to answer with (4xx)."""


@dataclass(frozen=True)
class InputSpec:
    """What one input looks like and how many a request may carry."""

    kind: Literal["text", "image"]
    max_batch: int
    image_shape: tuple[int, int, int] = (32, 32, 3)  # HxWxC; images only

    def describe(self) -> dict[str, Any]:
        if self.kind == "text":
            return {"kind": "text", "format": "a string per input", "max_batch": self.max_batch}
        h, w, c = self.image_shape
        return {
            "kind": "image",
            "max_batch": self.max_batch,
            "format": f"nested lists of integers 0-255, {h}x{w}x{c} (HxWxC) or {c}x{h}x{w} (CxHxW), "
            f"or base64 of the {h * w * c} raw uint8 bytes in HxWxC order",
        }


def parse_json(body: bytes) -> Any:
    """The request body as JSON; InputError (400) when it is not."""
    try:
        return json.loads(body.decode("utf-8"))  # json.loads would also guess UTF-16 and UTF-32 from bytes
    except UnicodeDecodeError:
        raise InputError("the body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise InputError("the body's JSON is nested too deeply") from None


def decode_request(payload: Any, spec: InputSpec) -> list[str] | np.ndarray:
    """The inputs of a request: a list of texts, or an (N, H, W, C) uint8 array of images."""
    if not isinstance(payload, dict):
        raise InputError(f'expected a JSON object {{"inputs": [...]}}, got {_json_type(payload)}')
    unknown = sorted(set(payload) - {"inputs"})
    if unknown:
        raise InputError(
            f'{plural(len(unknown), "unknown field")}: {", ".join(map(repr, unknown))}; send {{"inputs": [...]}}'
        )
    if "inputs" not in payload:
        raise InputError('missing field "inputs": send {"inputs": [...]}')
    inputs = payload["inputs"]
    if not isinstance(inputs, list):
        raise InputError(f'"inputs" must be a list, got {_json_type(inputs)}')
    if not inputs:
        raise InputError(f'"inputs" is empty: send 1 to {spec.max_batch} inputs')
    if len(inputs) > spec.max_batch:
        raise InputError(f"{len(inputs)} inputs exceed max_batch={spec.max_batch}: split the batch", status=413)
    if spec.kind == "text":
        return [_text(value, i) for i, value in enumerate(inputs)]
    return np.stack([_image(value, i, spec.image_shape) for i, value in enumerate(inputs)])


def _text(value: Any, index: int) -> str:
    if not isinstance(value, str):
        raise InputError(f"inputs[{index}]: expected a text (string), got {_json_type(value)}")
    return value


def _image(value: Any, index: int, shape: tuple[int, int, int]) -> np.ndarray:
    h, w, c = shape
    where = f"inputs[{index}]"
    if isinstance(value, str):
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise InputError(f"{where}: not valid base64") from None
        if len(raw) != h * w * c:
            raise InputError(f"{where}: base64 decodes to {len(raw)} bytes, expected {h * w * c} ({h}x{w}x{c} uint8)")
        return np.frombuffer(raw, dtype=np.uint8).reshape(shape)
    if not isinstance(value, list):
        raise InputError(f"{where}: expected an image (nested lists or base64 string), got {_json_type(value)}")
    try:
        array = np.array(value)
    except ValueError:  # ragged nesting
        raise InputError(f"{where}: not a rectangular array: expected {h}x{w}x{c} or {c}x{h}x{w}") from None
    if array.shape == (c, h, w) and (c, h, w) != shape:
        array = array.transpose(1, 2, 0)
    elif array.shape != shape:
        got = "x".join(map(str, array.shape)) or "a scalar"
        raise InputError(f"{where}: shape {got}, expected {h}x{w}x{c} (HxWxC) or {c}x{h}x{w} (CxHxW)")
    if array.dtype.kind not in "iuf":  # strings, booleans, nulls, objects
        raise InputError(f"{where}: pixel values must be integers 0-255, got {_dtype_name(array.dtype)}")
    if array.dtype.kind == "f" and not np.all(np.isfinite(array) & (array == np.round(array))):
        raise InputError(f"{where}: pixel values must be integers 0-255, got fractional or non-finite numbers")
    if array.min() < 0 or array.max() > 255:
        raise InputError(f"{where}: pixel values must be integers 0-255, got {array.min():g} to {array.max():g}")
    return array.astype(np.uint8)


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _dtype_name(dtype: np.dtype[Any]) -> str:
    return {"U": "strings", "b": "booleans", "O": "nulls or mixed values"}.get(dtype.kind, str(dtype))
