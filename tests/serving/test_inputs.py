"""Request validation and decoding, without a model or a server."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from mlspec.serving.inputs import InputError, InputSpec, decode_request, parse_json

TEXT = InputSpec("text", max_batch=3)
IMAGE = InputSpec("image", max_batch=4, image_shape=(4, 5, 3))


def _image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(4, 5, 3), dtype=np.uint8)


def test_texts_decode_to_a_list_of_strings() -> None:
    assert decode_request({"inputs": ["a", "", "c"]}, TEXT) == ["a", "", "c"]


def test_images_in_every_accepted_form_decode_to_the_same_hwc_uint8_array() -> None:
    a, b = _image(0), _image(1)
    forms = [
        [a.tolist(), b.tolist()],
        [a.transpose(2, 0, 1).tolist(), b.transpose(2, 0, 1).tolist()],
        [base64.b64encode(a.tobytes()).decode(), b.astype(float).tolist()],
    ]
    for inputs in forms:
        decoded = decode_request({"inputs": inputs}, IMAGE)
        assert isinstance(decoded, np.ndarray) and decoded.dtype == np.uint8
        np.testing.assert_array_equal(decoded, np.stack([a, b]))


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        ({"inputs": []}, 400, '"inputs" is empty: send 1 to 3 inputs'),
        ({"inputs": ["a"] * 4}, 413, "4 inputs exceed max_batch=3"),
        ({"inputs": ["a"], "extra": 1}, 400, "1 unknown field: 'extra'"),
        ({"inputs": {"a": 1}}, 400, '"inputs" must be a list, got an object'),
        ({"inputs": [["a"]]}, 400, "inputs[0]: expected a text (string), got a list"),
        ({"inputs": [True]}, 400, "inputs[0]: expected a text (string), got a boolean"),
        ("text", 400, "expected a JSON object"),
    ],
)
def test_bad_text_requests(payload: object, status: int, message: str) -> None:
    with pytest.raises(InputError) as caught:
        decode_request(payload, TEXT)
    assert caught.value.status == status and message in str(caught.value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.zeros((5, 4, 3), int).tolist(), "shape 5x4x3, expected 4x5x3 (HxWxC) or 3x4x5 (CxHxW)"),
        (np.zeros((4, 5), int).tolist(), "shape 4x5"),
        ([], "shape 0"),
        (np.full((4, 5, 3), -1).tolist(), "got -1 to -1"),
        (np.full((4, 5, 3), np.nan).tolist(), "fractional or non-finite"),
        ([[[None] * 3] * 5] * 4, "got nulls or mixed values"),
        ([[[10**30] * 3] * 5] * 4, "got nulls or mixed values"),
        ("%%%", "not valid base64"),
        (base64.b64encode(b"\0" * 59).decode(), "decodes to 59 bytes, expected 60 (4x5x3 uint8)"),
        ({"pixels": []}, "expected an image (nested lists or base64 string), got an object"),
    ],
)
def test_bad_images_name_the_input_and_the_problem(value: object, message: str) -> None:
    with pytest.raises(InputError) as caught:
        decode_request({"inputs": [_image(0).tolist(), value]}, IMAGE)
    assert caught.value.status == 400 and str(caught.value).startswith("inputs[1]: ") and message in str(caught.value)


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"{", "not valid JSON"), (b"\xff", "not UTF-8"), (b"[" * 5000 + b"]" * 5000, "nested too deeply")],
)
def test_bodies_that_are_not_json(body: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_json(body)
