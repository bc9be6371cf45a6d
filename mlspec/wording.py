"""Small English helpers for user-facing text: counted nouns and indefinite articles."""

from __future__ import annotations


def plural(count: float, noun: str, plural_form: str | None = None) -> str:
    """`count` and `noun`, plural unless the count is exactly one: '1 run', '2 runs', '0 runs'.

    Irregular or -es plurals are given: plural(n, "batch", "batches")."""
    many = plural_form if plural_form is not None else f"{noun}s"
    shown = f"{count:g}" if isinstance(count, float) else str(count)
    return f"{shown} {noun if count == 1 else many}"


def article(word: str) -> str:
    """`word` with 'a' or 'an' before it, by its first letter: 'an evaluate', 'an imdb', 'a train'."""
    vowel = bool(word) and word[0].lower() in "aeiou"
    return f"{'an' if vowel else 'a'} {word}"
