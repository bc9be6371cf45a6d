"""Features fitted over parts of the data, merged, against fitting on all of it at once: the mapped
TF-IDF against scikit-learn's TfidfVectorizer itself (same vocabulary, same values), pixel statistics
against numpy over all pixels."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from mlspec.datasets import part_bounds
from mlspec.datasets.features import Fitted, PixelStatistics, TfidfFeatures, pack_texts, unpack_texts

WORDS = ("good bad film plot actor scene music end great awful dull superb story the a of naïve café").split()  # noqa: SIM905


def corpus(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    # Few distinct words, so many terms tie on their total count: the tie-break must match too.
    texts = [" ".join(rng.choices(WORDS, k=rng.randint(0, 30))) for _ in range(n)]
    texts[3] = "!!! ?? x"  # a document without any token of two or more word characters
    return texts


def fit_in_parts(train: list[str], test: list[str], parts: int, options: dict[str, Any]) -> Fitted:
    fitter = TfidfFeatures()
    summaries = [
        fitter.part(train[a:b], test[c:d], options)
        for (a, b), (c, d) in zip(part_bounds(len(train), parts), part_bounds(len(test), parts), strict=True)
    ]
    return fitter.merge(summaries, options)


@pytest.mark.parametrize("parts", [1, 2, 3, 7])
@pytest.mark.parametrize(("ngram_max", "min_df", "max_features"), [(1, 1, None), (2, 2, 60), (2, 1, 25), (3, 3, None)])
def test_mapped_tfidf_equals_tfidfvectorizer(parts: int, ngram_max: int, min_df: int, max_features: int | None) -> None:
    train, test = corpus(120, 1), corpus(50, 2)
    options = {"ngram_max": ngram_max, "min_df": min_df, "max_features": max_features}
    reference = TfidfVectorizer(
        ngram_range=(1, ngram_max), min_df=min_df, max_features=max_features, sublinear_tf=True, dtype=np.float32
    )
    want_train = reference.fit_transform(train)
    want_test = reference.transform(test)
    fitted = fit_in_parts(train, test, parts, options)

    assert fitted.terms == reference.get_feature_names_out().tolist()
    assert fitted.meta == {"features": len(reference.vocabulary_)}
    assert fitted.idf is not None
    np.testing.assert_allclose(fitted.idf, reference.idf_, rtol=0, atol=1e-6)
    for got, want in ((fitted.train_x, want_train), (fitted.test_x, want_test)):
        assert got.shape == want.shape and got.dtype == np.float32
        assert abs(got - want).max() <= 1e-6
        assert (got != 0).nnz == (want != 0).nnz


def test_one_function_fits_the_training_split_and_transforms_the_test_split() -> None:
    train, test = corpus(120, 1), corpus(50, 2)
    options = {"ngram_max": 2, "min_df": 2, "max_features": 60}
    reference = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=60, sublinear_tf=True, dtype=np.float32)
    want_train = reference.fit_transform(train)
    fitter = TfidfFeatures()
    fitted = fitter.merge([fitter.part(train, None, options)], options)
    assert fitted.test_x is None
    assert abs(fitted.train_x - want_train).max() <= 1e-6
    assert abs(fitter.transform(fitted, test, options) - reference.transform(test)).max() <= 1e-6


def test_max_features_ties_are_broken_as_scikit_learn_breaks_them() -> None:
    # 40 words, each in exactly two documents with count 1: every total ties, and 15 are kept.
    words = [f"w{i:02d}" for i in range(40)]
    train = [" ".join(words[i::3]) for i in range(3)] * 2
    options = {"ngram_max": 1, "min_df": 1, "max_features": 15}
    reference = TfidfVectorizer(max_features=15, sublinear_tf=True, dtype=np.float32).fit(train)
    fitted = fit_in_parts(train, train[:2], 2, options)
    assert fitted.terms == reference.get_feature_names_out().tolist()


@pytest.mark.parametrize("parts", [1, 4, 9])
def test_tokens_and_empty_parts_are_those_of_tfidfvectorizer(parts: int) -> None:
    # Punctuation, digits, underscores, apostrophes, one-character words, non-ASCII words and upper case; more
    # parts than documents (empty parts), and documents without a single token.
    train = [
        "Don't stop_me now: 2 good-ish films, x y z",
        "",
        "ÉCOLE école ÉCOLE ßtraße a1 1a __ _a",
        "... !!",
        "don t don t DON T stop me",
    ]
    test = ["Don't stop", "école a1 nouvelle", ""]
    options = {"ngram_max": 3, "min_df": 1, "max_features": None}
    reference = TfidfVectorizer(ngram_range=(1, 3), sublinear_tf=True, dtype=np.float32)
    want_train, want_test = reference.fit_transform(train), reference.transform(test)
    fitted = fit_in_parts(train, test, parts, options)
    assert fitted.terms == reference.get_feature_names_out().tolist()
    assert abs(fitted.train_x - want_train).max() <= 1e-6 and abs(fitted.test_x - want_test).max() <= 1e-6


def test_no_term_left_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match="lower min_df"):
        fit_in_parts(["aa bb", "cc dd"], ["aa"], 2, {"ngram_max": 1, "min_df": 2, "max_features": None})


@pytest.mark.parametrize("parts", [1, 2, 5])
def test_mapped_pixel_statistics_equal_those_of_all_pixels(parts: int) -> None:
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, size=(23, 32, 32, 3), dtype=np.uint8)
    test = rng.integers(0, 256, size=(9, 32, 32, 3), dtype=np.uint8)
    fitter = PixelStatistics()
    summaries = [
        fitter.part(train[a:b], test[c:d], {})
        for (a, b), (c, d) in zip(part_bounds(len(train), parts), part_bounds(len(test), parts), strict=True)
    ]
    fitted = fitter.merge(summaries, {})
    pixels = train.reshape(-1, 3).astype(np.float64) / 255.0
    np.testing.assert_allclose(fitted.meta["mean"], pixels.mean(0), rtol=1e-12)
    np.testing.assert_allclose(fitted.meta["std"], pixels.std(0), rtol=1e-12)
    assert fitted.meta["offset"] == fitted.meta["mean"] and fitted.meta["scale"] == fitted.meta["std"]
    assert np.array_equal(fitted.train_x, train) and np.array_equal(fitted.test_x, test)
    # Cirrus's min-max scaling: the extremes merge exactly too, and training maps the range onto [0, 1].
    scaled = fitter.merge(summaries, {"scaling": "min_max"}).meta
    assert scaled["min"] == pixels.min(0).tolist() and scaled["max"] == pixels.max(0).tolist()
    np.testing.assert_allclose(scaled["scale"], pixels.max(0) - pixels.min(0), rtol=1e-12)
    assert scaled["offset"] == scaled["min"] and scaled["scaling"] == "min_max"


def test_parts_cover_every_row_once_in_order() -> None:
    assert part_bounds(10, 3) == [(0, 4), (4, 7), (7, 10)]
    assert part_bounds(2, 3) == [(0, 1), (1, 2), (2, 2)]


def test_texts_round_trip_through_plain_arrays() -> None:
    texts = ["naïve café", "", "line\nbreak", "日本語"]
    packed = pack_texts(texts)
    assert {a.dtype for a in packed.values()} == {np.dtype(np.uint8), np.dtype(np.int64)}
    assert unpack_texts(packed["bytes"], packed["lengths"]) == texts
