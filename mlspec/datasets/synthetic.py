"""Seeded synthetic twins of CIFAR-10 and IMDb: the same shapes, types and label sets as the real data, with
a class-dependent signal that is learnable but not trivially separable. The class "templates" are fixed
(the same for every seed); the seed picks the examples. Train and test come from independent streams, so
the test split does not depend on train_size. Same arguments => identical data."""

from __future__ import annotations

import numpy as np

from mlspec.datasets.base import CIFAR10_CLASSES, IMDB_CLASSES, Dataset

_TEMPLATE_SEED = 20240611
_CHUNK = 512


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


def _balanced_labels(rng: np.random.Generator, n: int, num_classes: int) -> np.ndarray:
    return rng.permutation(np.arange(n, dtype=np.int64) % num_classes)


# ---------------------------------------------------------------- images


def _image_templates() -> dict[str, np.ndarray]:
    """Per class: a base colour (close to the other classes') and a few low-frequency plane waves, each with
    its own amplitude and phase per channel. The classes differ mostly in texture (wave direction and
    frequency), which a small CNN picks up quickly and a linear model on pixels only partly."""
    rng = np.random.default_rng(_TEMPLATE_SEED)
    classes = len(CIFAR10_CLASSES)
    waves = 3
    return {
        "colour": rng.uniform(112, 148, size=(classes, 3)),
        # spatial frequency vectors in cycles per image: small, so the patterns are smooth
        "freq": rng.uniform(-3.0, 3.0, size=(classes, waves, 2)),
        "phase": rng.uniform(0, 2 * np.pi, size=(classes, waves, 3)),
        "amp": rng.uniform(14, 30, size=(classes, waves, 3)),
    }


def _images(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    t = _image_templates()
    n = len(labels)
    out = np.empty((n, 32, 32, 3), dtype=np.uint8)
    grid = np.arange(32, dtype=np.float32) / 32
    yy, xx = np.meshgrid(grid, grid, indexing="ij")  # (32, 32), in image widths
    for start in range(0, n, _CHUNK):
        y = labels[start : start + _CHUNK]
        m = len(y)
        # per image: a random shift of the whole pattern, a frequency jitter, colour, brightness and
        # contrast jitter, and strong pixel noise
        shift = rng.uniform(-0.5, 0.5, size=(m, 1, 2))
        freq = t["freq"][y] * rng.uniform(0.8, 1.2, size=(m, 1, 1))  # (m, waves, 2)
        offset = 2 * np.pi * (freq * shift).sum(axis=-1)  # (m, waves)
        arg = (
            2 * np.pi * (freq[..., 0, None, None] * xx + freq[..., 1, None, None] * yy) + offset[..., None, None]
        )  # (m, waves, 32, 32)
        amp = t["amp"][y] * rng.uniform(0.6, 1.4, size=(m, 1, 1))  # (m, waves, 3), contrast jitter
        phase = t["phase"][y]
        # sin(arg + phase) = sin(arg) cos(phase) + cos(arg) sin(phase), summed over the waves
        pattern = np.einsum("mwhx,mwc->mhxc", np.sin(arg), amp * np.cos(phase)) + np.einsum(
            "mwhx,mwc->mhxc", np.cos(arg), amp * np.sin(phase)
        )  # (m, 32, 32, 3)
        colour = t["colour"][y] + rng.normal(0, 16, size=(m, 3)) + rng.normal(0, 18, size=(m, 1))
        noise = rng.normal(0, 30, size=(m, 32, 32, 3))
        pixels = colour[:, None, None, :] + pattern + noise
        out[start : start + m] = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
    return out


def cifar10(train_size: int, test_size: int, seed: int) -> Dataset:
    splits = []
    for stream, n in ((0, train_size), (1, test_size)):
        rng = _rng(seed, stream)
        labels = _balanced_labels(rng, n, len(CIFAR10_CLASSES))
        splits.append((_images(rng, labels), labels))
    return Dataset(
        "cifar10",
        list(CIFAR10_CLASSES),
        splits[0][0],
        splits[0][1],
        splits[1][0],
        splits[1][1],
        f"synthetic(seed={seed})",
    )


# ---------------------------------------------------------------- reviews


def _words(text: str) -> list[str]:
    return text.split()


_NEUTRAL = _words("""
the a an and but or so of to in on at for with about from by as this that these those it its i my me we you
he she they his her their there here is was are were be been being have has had do does did will would can
could should may might just very really quite rather also still even only again then than too more most some
any all both each every other another such much many few lot bit kind sort way thing things something nothing
movie film story plot script scene scenes ending beginning middle character characters actor actors actress
cast director direction camera music score soundtrack dialogue screen audience viewer theater version sequel
series episode book novel role part performance performances acting effects cinematography editing pacing
minutes hour hours time times year years day night life world family friend friends man woman people kids
father mother son daughter brother sister wife husband town city house war police love death money school
watch watched watching see saw seen look looks looked think thought feel felt know knew make made get got
go went come came take took give gave find found tell told play played plays show shows shown seem seems
seemed try tried want wanted start started end ended turn turned keep kept leave left work worked
first second last next new old young long short big small little real true whole own same different
original main certain early late final recent classic modern famous american british french simple
probably actually certainly especially perhaps maybe almost enough somehow anyway though although because
while when where why how what who which whether after before during since until around through over under
""")

_POSITIVE = _words("""
great excellent wonderful brilliant amazing superb fantastic beautiful enjoyable delightful masterpiece
outstanding perfect loved favorite touching gripping charming impressive memorable moving fun hilarious
stunning engaging powerful terrific recommend refreshing clever solid
""")

_NEGATIVE = _words("""
bad terrible awful boring worst horrible waste poor dull stupid disappointing mess pointless weak lame
annoying ridiculous unfunny forgettable painful tedious cheap predictable bland wooden laughable
overrated dreadful avoid mediocre
""")

_NEGATIONS = ("not", "never", "hardly", "no")
_SENTIMENT_RATE = 0.08  # share of word slots that carry a sentiment word
_OWN_CLASS_SHARE = 0.82  # share of those drawn from the review's own class (the rest: the other class)
_NEGATION_RATE = 0.15  # chance a sentiment word is preceded by a negation


def _zipf_weights(size: int) -> np.ndarray:
    """Word frequencies falling with rank (function words are listed first, as in English)."""
    weights = 1.0 / np.arange(1, size + 1) ** 0.9
    return np.asarray(weights / weights.sum())


def _reviews(rng: np.random.Generator, labels: np.ndarray) -> list[str]:
    neutral_p = _zipf_weights(len(_NEUTRAL))
    lists = (_NEGATIVE, _POSITIVE)
    texts = []
    for label in labels.tolist():
        length = int(rng.integers(30, 121))
        words = [_NEUTRAL[i] for i in rng.choice(len(_NEUTRAL), size=length, p=neutral_p)]
        slots = np.flatnonzero(rng.random(length) < _SENTIMENT_RATE)
        for slot in slots.tolist():
            polarity = label if rng.random() < _OWN_CLASS_SHARE else 1 - label
            word = lists[polarity][int(rng.integers(len(lists[polarity])))]
            if rng.random() < _NEGATION_RATE:
                # a negated word of the opposite polarity keeps the meaning ("not bad" in a positive review)
                opposite = lists[1 - polarity]
                word = f"{_NEGATIONS[int(rng.integers(len(_NEGATIONS)))]} {opposite[int(rng.integers(len(opposite)))]}"
            words[slot] = word
        # sentences of 6-16 words; paragraphs broken with <br /><br /> as in the real reviews
        sentences, pos = [], 0
        while pos < length:
            size = int(rng.integers(6, 17))
            sentence = " ".join(words[pos : pos + size])
            sentences.append(sentence[:1].upper() + sentence[1:] + ("!" if rng.random() < 0.08 else "."))
            pos += size
        text = ""
        for i, sentence in enumerate(sentences):
            text += sentence if i == 0 else ("<br /><br />" if rng.random() < 0.15 else " ") + sentence
        texts.append(text)
    return texts


def imdb(train_size: int, test_size: int, seed: int) -> Dataset:
    splits = []
    for stream, n in ((0, train_size), (1, test_size)):
        rng = _rng(seed, stream)
        labels = _balanced_labels(rng, n, len(IMDB_CLASSES))
        splits.append((_reviews(rng, labels), labels))
    return Dataset(
        "imdb", list(IMDB_CLASSES), splits[0][0], splits[0][1], splits[1][0], splits[1][1], f"synthetic(seed={seed})"
    )
