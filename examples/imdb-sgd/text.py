"""Preprocessing of one's own: run on each part of the preprocess map and on every request served."""

import re

LINE_BREAK = re.compile(r"<br\s*/?>")  # IMDb reviews carry HTML line breaks


def strip_html(texts: list[str]) -> list[str]:
    return [LINE_BREAK.sub(" ", text) for text in texts]
