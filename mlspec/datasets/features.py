"""Features fitted on the training split, in two steps so that the work maps over parts of the data:
`part` summarises one contiguous part of each split (plain arrays, any number of parts in parallel);
`merge` combines the parts' summaries, in order, into the features of the whole dataset, exactly as
fitting on all of it at once would. One function fits one part of the training split and then `transform`s
the test split with the fitted features (cheaper than summarising rows of an unknown vocabulary).

Text (imdb): scikit-learn's TfidfVectorizer (word n-grams, `min_df`, `max_features`, sublinear tf,
smoothed idf, l2 rows), reproduced from per-part term counts: the same tokens, the same vocabulary chosen by
the same rule on the merged counts, the same idf and weights (tested against TfidfVectorizer itself). No
scikit-learn import: a function that only counts or merges starts in a fraction of the time.
Images (cifar10): per-channel mean and standard deviation of the training pixels, merged with Chan's
pairwise update, and their minimum and maximum; the images themselves stay uint8, and training scales them
by the `scaling:` the stage chose (Cirrus's options): `standard` (minus the mean, over the standard
deviation) or `min_max` (minus the minimum, over the range), as `offset` and `scale` in the data's facts.

Brought code (mlspec.user_code): a `transform:` function applied to the raw examples before the features,
and for text a `vectorizer:` (a scikit-learn transformer) in place of the built-in TF-IDF (BroughtVectorizer).
Serving applies the same to raw requests (RequestFeatures)."""

from __future__ import annotations

import pickle
import re
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from itertools import chain, count, pairwise
from typing import Any, Literal, Protocol

import numpy as np

from mlspec.errors import UserCodeError
from mlspec.user_code import construct, load_object, parameters, user_error

Summary = dict[str, np.ndarray]  # what `part` returns: plain arrays, stored as one .npz


@dataclass(frozen=True, eq=False)
class Fitted:
    """Features of the whole dataset: the feature rows of each split, the facts training needs (`meta`),
    and for text the fitted vocabulary in column order with its idf weights (what serving needs)."""

    train_x: Any
    test_x: Any  # None when the parts summarised no test rows: then `transform` makes them
    meta: dict[str, Any]
    terms: list[str] | None = None
    idf: np.ndarray | None = None
    vectorizer: bytes | None = None  # a brought vectorizer fitted on the training split, pickled


@dataclass(frozen=True)
class TextFeatures:
    """A fitted TF-IDF as data: terms in column order, their idf weights and the longest n-gram;
    `transform` turns texts into the features the preprocess stage made (serving uses it too)."""

    terms: list[str]
    idf: np.ndarray
    ngram_max: int
    columns: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", dict(zip(self.terms, range(len(self.terms)), strict=True)))

    def transform(self, texts: list[str]) -> Any:
        return tfidf(count_known_terms(texts, self.columns, self.ngram_max), self.idf)


class FeatureFitter(Protocol):
    def encode(self, x: Any) -> Summary: ...  # a split's rows as plain arrays, and back
    def decode(self, arrays: Summary) -> Any: ...
    def part(self, train_x: Any, test_x: Any | None, options: dict[str, Any]) -> Summary: ...
    def merge(self, parts: list[Summary], options: dict[str, Any]) -> Fitted: ...
    def transform(self, fitted: Fitted, x: Any, options: dict[str, Any]) -> Any: ...


def pack_texts(texts: list[str]) -> Summary:
    """Texts as two arrays (UTF-8 bytes end to end, and each text's byte length): no pickle."""
    encoded = [t.encode("utf-8") for t in texts]
    return {
        "bytes": np.frombuffer(b"".join(encoded), dtype=np.uint8),
        "lengths": np.fromiter((len(e) for e in encoded), dtype=np.int64, count=len(encoded)),
    }


def unpack_texts(blob: np.ndarray, lengths: np.ndarray) -> list[str]:
    data = blob.tobytes()
    ends = np.cumsum(lengths).tolist()
    starts = [0, *ends[:-1]]
    return [data[s:e].decode("utf-8") for s, e in zip(starts, ends, strict=True)]


class TextRows:
    """A text split's rows as plain arrays, and back: what every text fitter stores its parts' rows as."""

    def encode(self, x: Any) -> Summary:
        return pack_texts(list(x))

    def decode(self, arrays: Summary) -> Any:
        return unpack_texts(arrays["bytes"], arrays["lengths"])


class TfidfFeatures(TextRows):
    def part(self, train_x: Any, test_x: Any | None, options: dict[str, Any]) -> Summary:
        """Term counts of each split's documents over one table of the part's terms (see PartTerms)."""
        splits = [list(train_x)] + ([] if test_x is None else [list(test_x)])
        terms = PartTerms.count(splits, options["ngram_max"])
        summary: Summary = {"words": _pack_words(terms.words), "grams": terms.grams}
        for split, counts in zip(("train", "test"), terms.counts, strict=False):
            summary.update(prefixed(split, _csr_arrays(counts)))
        return summary

    def merge(self, parts: list[Summary], options: dict[str, Any]) -> Fitted:
        from scipy import sparse

        table, term_of_column = _union_of_terms([_unpack_words(p["words"]) for p in parts], [p["grams"] for p in parts])
        train_counts = [_csr(p, "train") for p in parts]
        kept = _vocabulary(train_counts, term_of_column, len(table.grams), options)
        column = np.full(len(table.grams), -1, dtype=np.int32)
        column[kept] = np.arange(len(kept))

        def stacked(counts: list[Any]) -> Any:
            pairs = zip(counts, term_of_column, strict=True)
            return sparse.vstack([_to_columns(c, column[t], len(kept)) for c, t in pairs], format="csr")

        train = stacked(train_counts)
        idf = smoothed_idf(train)
        test_x = tfidf(stacked([_csr(p, "test") for p in parts]), idf) if "test_shape" in parts[0] else None
        return Fitted(tfidf(train, idf), test_x, {"features": len(kept)}, table.strings(kept), idf)

    def transform(self, fitted: Fitted, x: Any, options: dict[str, Any]) -> Any:
        """Counting only the fitted terms: cheaper than summarising rows whose vocabulary is unknown."""
        assert fitted.terms is not None and fitted.idf is not None
        return TextFeatures(fitted.terms, fitted.idf, options["ngram_max"]).transform(list(x))


@dataclass(frozen=True)
class PartTerms:
    """The terms of one part of the data as word ids, never as strings: `words` in alphabetical order, `grams`
    one row per term (its words' ids, padded with -1) in column order, and each split's documents x terms
    float32 counts. An n-gram is its (n-1)-gram's id and its last word's id, made dense per length, so counting
    bigrams builds no bigram string and hashes none: that, not tokenizing, was most of the time."""

    words: list[str]
    grams: np.ndarray
    counts: list[Any]

    @classmethod
    def count(cls, splits: list[list[str]], ngram_max: int) -> PartTerms:
        from scipy import sparse

        # Each word gets the first id offered to it (the loop runs in C: map, setdefault, extend into an int32
        # array, which numpy reads without a copy); the ids are then ranked alphabetically. Arrays are int32
        # where they fit: fresh memory is slow to touch on a function's first use of it.
        first_id: dict[str, int] = {}
        ids = count()
        offered = array("i")
        lengths: list[int] = []
        for texts in splits:
            for text in texts:
                tokens = tokens_of(text)
                offered.extend(map(first_id.setdefault, tokens, ids))
                lengths.append(len(tokens))
        words = sorted(first_id)
        rank = np.zeros(next(ids), dtype=np.int32)
        rank[np.fromiter(map(first_id.__getitem__, words), dtype=np.int64, count=len(words))] = np.arange(len(words))
        word = rank[np.frombuffer(offered, dtype=np.int32)]
        del offered, first_id
        document = np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)
        base = max(len(words), 1)
        table = np.full((len(words), ngram_max), -1, dtype=np.int32)
        table[:, 0] = np.arange(len(words))
        tables, blocks = [table], [(document, word)]
        gram = word  # at each position, the id of the n-gram of the current length starting there (-1: none)
        for n in range(2, ngram_max + 1):
            starts = max(len(word) - n + 1, 0)
            valid = (gram[:starts] >= 0) & (document[:starts] == document[n - 1 :])
            distinct, inverse = _distinct(gram[:starts][valid] * np.int64(base) + word[n - 1 :][valid])
            table = tables[-1][distinct // base]
            table[:, n - 1] = distinct % base
            tables.append(table)
            gram = np.full(starts, -1, dtype=np.int32)
            gram[valid] = inverse
            blocks.append((document[:starts][valid], gram[valid]))
        # Each length's counts, documents in order, then side by side: no sort of all pairs.
        ends = np.cumsum([len(texts) for texts in splits]).tolist()
        per_split: list[list[Any]] = [[] for _ in splits]
        for (rows, columns), table in zip(blocks, tables, strict=True):
            counts = _counts(rows, columns, len(lengths), len(table))
            for out, (a, b) in zip(per_split, pairwise([0, *ends]), strict=True):
                out.append(counts[a:b])
        matrices = [sparse.hstack(lengths_counts, format="csr") for lengths_counts in per_split]
        return cls(words, np.concatenate(tables), matrices)


def _counts(rows: np.ndarray, columns: np.ndarray, documents: int, width: int) -> Any:
    """documents x width float32 counts of the (row, column) pairs, given with their rows in ascending order."""
    from scipy import sparse

    indptr = np.zeros(documents + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=documents), out=indptr[1:])
    matrix = sparse.csr_matrix((np.ones(len(columns), dtype=np.float32), columns, indptr), shape=(documents, width))
    matrix.sum_duplicates()  # one entry per document and term, indices sorted
    return matrix


@dataclass(frozen=True)
class TermTable:
    """Every part's terms, as one table: `words` in alphabetical order and `grams` one row per term, its words'
    ids padded with -1, in the terms' alphabetical order."""

    words: list[str]
    grams: np.ndarray

    def strings(self, kept: np.ndarray) -> list[str]:
        return [" ".join(self.words[i] for i in row if i >= 0) for row in self.grams[kept].tolist()]


def _union_of_terms(words: list[list[str]], grams: list[np.ndarray]) -> tuple[TermTable, list[np.ndarray]]:
    """All parts' terms in alphabetical order, and for each part the term of each of its columns. Each length's
    prefix is ranked before the next word is appended, so a term's rank is its string's alphabetical rank: the
    words are ranked alphabetically, a shorter term sorts before the longer ones it begins, and the space that
    joins words sorts before every character a word holds."""
    union = sorted(set(chain.from_iterable(words)))
    index = dict(zip(union, range(len(union)), strict=True))
    rows = []
    for part_words, part_grams in zip(words, grams, strict=True):
        # The part's word ids to the union's, and -1 (the padding) to itself: it indexes the last entry.
        to_union = np.fromiter(chain(map(index.__getitem__, part_words), [-1]), dtype=np.int32)
        rows.append(to_union[part_grams])
    stacked = np.concatenate(rows)
    # Every word is a term of one word, so the words' ids already rank the terms by their first word.
    rank = stacked[:, 0].astype(np.int64)
    for n in range(1, stacked.shape[1]):
        _, rank = _distinct(rank * (len(union) + 1) + stacked[:, n] + 1, "stable")
    first = np.zeros(int(rank.max()) + 1 if len(rank) else 0, dtype=np.int64)
    first[rank] = np.arange(len(rank))
    ends = np.cumsum([len(g) for g in grams]).tolist()
    return TermTable(union, stacked[first]), [rank[a:b] for a, b in pairwise([0, *ends])]


def _distinct(keys: np.ndarray, kind: Literal["quicksort", "stable"] = "quicksort") -> tuple[np.ndarray, np.ndarray]:
    """The distinct keys in ascending order and each key's rank among them: np.unique's, in about half the time
    and memory. Keys that come as a few ascending runs sort in linear time with `kind="stable"` (a merge)."""
    order = np.argsort(keys, kind=kind)
    ordered = keys[order]
    new = np.empty(len(keys), dtype=bool)
    new[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    ranks = np.empty(len(keys), dtype=np.int64)
    ranks[order] = np.cumsum(new) - 1
    return ordered[new], ranks


# TfidfVectorizer's default token_pattern, (?u)\b\w\w+\b, without its \b: found left to right, a run of word
# characters matches from its start to its end either way, and the pattern without them runs a third faster.
TOKEN = re.compile(r"\w\w+")


def tokens_of(text: str) -> list[str]:
    """TfidfVectorizer's default tokens: lower case, runs of two or more word characters."""
    return TOKEN.findall(text.lower())


def analyze(text: str, ngram_max: int) -> list[str]:
    """TfidfVectorizer's default word analyzer: its tokens (tokens_of), and every n-gram of them up to
    `ngram_max` joined by single spaces (in another order: counts are the same)."""
    tokens = tokens_of(text)
    terms = list(tokens)
    for n in range(2, ngram_max + 1):
        terms.extend(map(" ".join, zip(*(tokens[i:] for i in range(n)), strict=False)))
    return terms


def count_known_terms(texts: list[str], column: dict[str, int], ngram_max: int) -> Any:
    """Documents x `column`'s terms, float32 counts; terms outside `column` are not counted."""
    from scipy import sparse

    indices: list[int] = []
    values: list[int] = []
    indptr = [0]
    for text in texts:
        counts = Counter(t for t in analyze(text, ngram_max) if t in column)
        indices.extend(map(column.__getitem__, counts))
        values.extend(counts.values())
        indptr.append(len(indices))
    matrix = sparse.csr_matrix(
        (np.array(values, dtype=np.float32), np.array(indices, dtype=np.int32), np.array(indptr)),
        shape=(len(texts), len(column)),
    )
    matrix.sort_indices()
    return matrix


def smoothed_idf(counts: Any) -> np.ndarray:
    """ln((1 + documents) / (1 + documents with the term)) + 1, in float32 as scikit-learn computes it."""
    documents = np.bincount(counts.indices, minlength=counts.shape[1]).astype(np.float32) + np.float32(1)
    idf: np.ndarray = np.log(np.float32(counts.shape[0] + 1) / documents) + np.float32(1)
    return idf


def tfidf(counts: Any, idf: np.ndarray) -> Any:
    """Sublinear tf (1 + ln count) times idf, each row scaled to unit l2 norm (empty rows stay empty)."""
    out = counts.astype(np.float32, copy=True)
    np.log(out.data, out=out.data)
    out.data += np.float32(1)
    out.data *= idf[out.indices]
    # Each row's sum of squares as a difference of running sums: no second matrix.
    running = np.concatenate([[0.0], np.cumsum(np.square(out.data, dtype=np.float64))])
    norms = np.sqrt(running[out.indptr[1:]] - running[out.indptr[:-1]])
    norms[norms == 0] = 1
    out.data /= np.repeat(norms, np.diff(out.indptr)).astype(np.float32)
    return out


def _pack_words(words: list[str]) -> np.ndarray:
    """Words as one array of UTF-8 bytes, newline-separated: no token holds a newline (the analyzer's words are
    runs of word characters)."""
    return np.frombuffer("\n".join(words).encode("utf-8"), dtype=np.uint8)


def _unpack_words(blob: np.ndarray) -> list[str]:
    return blob.tobytes().decode("utf-8").split("\n") if len(blob) else []


def _vocabulary(counts: list[Any], term_of_column: list[np.ndarray], terms: int, options: dict[str, Any]) -> Any:
    """The kept terms in column order, by TfidfVectorizer's rule (`_limit_features` after sorting):
    document frequency >= min_df, then the max_features largest total counts; ties broken as its
    argsort breaks them, on the same float32 totals in the same (alphabetical) order."""
    totals = np.zeros(terms, dtype=np.float64)
    documents = np.zeros(terms, dtype=np.int64)
    for part_counts, part_terms in zip(counts, term_of_column, strict=True):
        # A part's columns are distinct terms: no index repeats within one assignment.
        totals[part_terms] += np.asarray(part_counts.sum(axis=0), dtype=np.float64).ravel()
        documents[part_terms] += np.bincount(part_counts.indices, minlength=len(part_terms))
    # Terms only the test split holds are in the table too: a term is a candidate once a training document has it.
    mask = (documents >= options["min_df"]) & (documents > 0)
    limit = options["max_features"]
    if limit is not None and mask.sum() > limit:
        order = (-totals.astype(np.float32)[mask]).argsort()[:limit]
        kept = np.zeros(terms, dtype=bool)
        kept[np.where(mask)[0][order]] = True
        mask = kept
    if not mask.any():
        raise ValueError("no term is in min_df documents of the training split: lower min_df")
    return np.flatnonzero(mask)


def _to_columns(counts: Any, mapping: np.ndarray, width: int) -> Any:
    """A part's counts re-indexed by `mapping` (its column -> the merged vocabulary's of `width`, -1: dropped)."""
    from scipy import sparse

    new_columns = mapping[counts.indices]
    keep = new_columns >= 0
    kept_before = np.concatenate([[0], np.cumsum(keep)])  # kept entries before each entry: rows end where they did
    out = sparse.csr_matrix(
        (counts.data[keep], new_columns[keep], kept_before[counts.indptr]), shape=(counts.shape[0], width)
    )
    out.sort_indices()
    return out


class PixelStatistics:
    def encode(self, x: Any) -> Summary:
        return {"x": np.asarray(x)}

    def decode(self, arrays: Summary) -> Any:
        return arrays["x"]

    def part(self, train_x: Any, test_x: Any | None, options: dict[str, Any]) -> Summary:
        pixels = np.asarray(train_x).reshape(-1, 3).astype(np.float64) / 255.0
        mean = pixels.mean(0) if len(pixels) else np.zeros(3)
        test = {} if test_x is None else {"test_x": np.asarray(test_x)}
        return {
            "train_x": np.asarray(train_x),
            **test,
            "pixels": np.array([len(pixels)], dtype=np.int64),
            "mean": mean,
            "m2": ((pixels - mean) ** 2).sum(0),
            "min": pixels.min(0) if len(pixels) else np.ones(3),
            "max": pixels.max(0) if len(pixels) else np.zeros(3),
        }

    def merge(self, parts: list[Summary], options: dict[str, Any]) -> Fitted:
        count, mean, m2 = 0, np.zeros(3), np.zeros(3)
        for part in parts:  # Chan et al.'s pairwise combination of counts, means and squared deviations
            n = int(part["pixels"][0])
            if n == 0:
                continue
            delta = part["mean"] - mean
            total = count + n
            mean = mean + delta * n / total
            m2 = m2 + part["m2"] + delta**2 * count * n / total
            count = total
        std = np.sqrt(m2 / count) if count else np.zeros(3)
        low = np.min([p["min"] for p in parts], axis=0)
        high = np.max([p["max"] for p in parts], axis=0)
        offset, scale = {"standard": (mean, std), "min_max": (low, high - low)}[options.get("scaling", "standard")]
        train_x = np.concatenate([p["train_x"] for p in parts])
        test_x = np.concatenate([p["test_x"] for p in parts]) if "test_x" in parts[0] else None
        meta = {
            "mean": mean.tolist(),
            "std": std.tolist(),
            "min": low.tolist(),
            "max": high.tolist(),
            "scaling": options.get("scaling", "standard"),
            # What training subtracts from pixels in [0, 1] and divides them by (1 where a channel is constant).
            "offset": offset.tolist(),
            "scale": np.where(scale > 0, scale, 1.0).tolist(),
            # The shape of one image: what a model that takes flat inputs (a scikit-learn estimator) is sized by.
            "shape": list(train_x.shape[1:]),
        }
        return Fitted(train_x, test_x, meta)

    def transform(self, fitted: Fitted, x: Any, options: dict[str, Any]) -> Any:
        return np.asarray(x)  # images stay uint8; training scales them by offset and scale


class BroughtVectorizer(TextRows):
    """`vectorizer:` any scikit-learn transformer of texts, by import path, with `vectorizer_options`. One that
    needs no fitting (HashingVectorizer: scikit-learn's `requires_fit` tag is false) transforms each part's rows
    where the part is summarised, and the merge stacks them; one that does is fitted once, in the merge, on the
    whole training split (the parts carry their texts), which is what fitting on the training split means."""

    def part(self, train_x: Any, test_x: Any | None, options: dict[str, Any]) -> Summary:
        vectorizer, origin = brought_vectorizer(options)
        summary: Summary = {}
        for split, texts in (("train", train_x), ("test", test_x)):
            if texts is None:
                continue
            if _requires_fit(vectorizer):
                summary.update(prefixed(split, pack_texts(list(texts))))
            else:
                summary.update(prefixed(split, _csr_arrays(_vectorized(vectorizer.transform, texts, origin))))
        return summary

    def merge(self, parts: list[Summary], options: dict[str, Any]) -> Fitted:
        from scipy import sparse

        vectorizer, origin = brought_vectorizer(options)
        has_test = "test_lengths" in parts[0] or "test_shape" in parts[0]
        if _requires_fit(vectorizer):
            splits = ("train", "test") if has_test else ("train",)
            texts = [[t for p in parts for t in self.decode(unprefixed(split, p))] for split in splits]
            train = _vectorized(vectorizer.fit_transform, texts[0], origin)
            test = _vectorized(vectorizer.transform, texts[1], origin) if has_test else None
            return Fitted(train, test, {"features": train.shape[1]}, vectorizer=pickle.dumps(vectorizer))
        train = sparse.vstack([_csr(p, "train") for p in parts], format="csr")
        test = sparse.vstack([_csr(p, "test") for p in parts], format="csr") if has_test else None
        return Fitted(train, test, {"features": train.shape[1]})

    def transform(self, fitted: Fitted, x: Any, options: dict[str, Any]) -> Any:
        return RequestFeatures(options, vectorizer=fitted.vectorizer).features(list(x))


def brought_vectorizer(options: dict[str, Any]) -> tuple[Any, str]:
    """A fresh vectorizer of the class `options["vectorizer"]` names, and where it is from. A list in the options
    where the constructor's default is a tuple (ngram_range) becomes a tuple: YAML has no tuples."""
    name = options["vectorizer"]
    cls, origin = load_object(name, options.get("code", {}).get("vectorizer"), "class")
    defaults = {k: p.default for k, p in parameters(cls).items()}
    kwargs = {
        k: tuple(v) if isinstance(v, list) and isinstance(defaults.get(k), tuple) else v
        for k, v in (options.get("vectorizer_options") or {}).items()
    }
    return construct(cls, kwargs, f"vectorizer {name}", origin, "vectorizer_options"), origin


def _requires_fit(vectorizer: Any) -> bool:
    tags = getattr(vectorizer, "__sklearn_tags__", None)
    return bool(tags().requires_fit) if tags is not None else True


def _vectorized(method: Any, texts: Any, origin: str) -> Any:
    """method(texts) as float32 CSR rows with sorted indices, whatever the vectorizer returns."""
    from scipy import sparse

    try:
        out = method(list(texts))
        matrix = sparse.csr_matrix(out, dtype=np.float32)
    except UserCodeError:
        raise
    except Exception as exc:
        raise user_error(exc, origin) or UserCodeError(f"vectorizer {origin}: {exc}") from None
    if matrix.shape[0] != len(texts):
        raise UserCodeError(f"vectorizer {origin}: {matrix.shape[0]} rows for {len(texts)} texts")
    matrix.sort_indices()
    return matrix


def brought_transform(options: dict[str, Any]) -> Callable[[Any], Any]:
    """The brought `transform:` function, loaded once, checked on every call: as many out as in, texts to texts
    and images to uint8 images (N x H x W x C); without one, examples pass unchanged."""
    name = options.get("transform")
    if not name:
        return lambda examples: examples
    function, origin = load_object(name, options.get("code", {}).get("transform"), "function")

    def checked(examples: Any) -> Any:
        if examples is None:
            return None
        try:
            out = function(examples)
        except Exception as exc:
            raise user_error(exc, origin) or UserCodeError(f"transform {name}: {exc}") from None
        if isinstance(examples, np.ndarray):
            if not (
                isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.ndim == 4 and len(out) == len(examples)
            ):
                got = f"{type(out).__name__} {getattr(out, 'dtype', '')} {getattr(out, 'shape', '')}".strip()
                raise UserCodeError(
                    f"transform {name}: images in must give {len(examples)} uint8 images N x H x W x C out, got {got}"
                )
            return out
        if not (isinstance(out, list) and len(out) == len(examples) and all(isinstance(t, str) for t in out)):
            raise UserCodeError(
                f"transform {name}: {len(examples)} texts in must give a list of {len(examples)} texts out"
            )
        return out

    return checked


# The preprocess options that name brought code (and what it needs); serving keeps them.
BROUGHT_OPTIONS = ("transform", "vectorizer", "vectorizer_options", "code")


@dataclass(frozen=True)
class RequestFeatures:
    """What serving does to raw inputs, as the preprocess stage did to its data: the brought transform, then the
    text features (the fitted TF-IDF, or the brought vectorizer: rebuilt from its options, or unpickled when it
    was fitted). Images after the transform are the features."""

    options: dict[str, Any]  # the brought ones of the preprocess stage's options (BROUGHT_OPTIONS)
    text: TextFeatures | None = None
    vectorizer: bytes | None = None

    def features(self, inputs: Any) -> Any:
        inputs = self._transform(inputs)
        if self.text is not None:
            return self.text.transform(list(inputs))
        if self._vectorizer is None:
            return inputs
        vectorizer, origin = self._vectorizer
        return _vectorized(vectorizer.transform, inputs, origin)

    # Loaded on the first request, not on every one (serving calls `features` per request).
    @cached_property
    def _transform(self) -> Callable[[Any], Any]:
        return brought_transform(self.options)

    @cached_property
    def _vectorizer(self) -> tuple[Any, str] | None:
        if not self.options.get("vectorizer"):
            return None
        fresh, origin = brought_vectorizer(self.options)  # imports the user's module: its classes unpickle
        # Unpickling runs code: this is the run's own vectorizer, written by its preprocess stage.
        return (fresh if self.vectorizer is None else pickle.loads(self.vectorizer)), origin


def fitter_for(fmt: str, options: dict[str, Any]) -> FeatureFitter:
    return BroughtVectorizer() if options.get("vectorizer") else FITTERS[fmt]


FITTERS: dict[str, FeatureFitter] = {"imdb": TfidfFeatures(), "cifar10": PixelStatistics()}


def prefixed(prefix: str, arrays: Summary) -> Summary:
    return {f"{prefix}_{name}": value for name, value in arrays.items()}


def unprefixed(prefix: str, arrays: Summary) -> Summary:
    return {name.removeprefix(f"{prefix}_"): value for name, value in arrays.items() if name.startswith(f"{prefix}_")}


def _csr_arrays(matrix: Any) -> Summary:
    return {
        "data": matrix.data,
        "indices": matrix.indices,
        "indptr": matrix.indptr,
        "shape": np.array(matrix.shape, dtype=np.int64),
    }


def _csr(summary: Summary, split: str) -> Any:
    from scipy import sparse

    arrays = (summary[f"{split}_data"], summary[f"{split}_indices"], summary[f"{split}_indptr"])
    return sparse.csr_matrix(arrays, shape=tuple(summary[f"{split}_shape"]))
