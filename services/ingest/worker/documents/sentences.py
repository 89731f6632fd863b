"""Sentences out of paragraphs, with pysbd (rule-based: abbreviations, decimals,
initials), which needs no corpus (textblob's and NLTK's tokenizers need the punkt
data, which is not shipped).

A paragraph is segmented on its own, so a heading never runs into the sentence after
it, and a very long paragraph is cut into slices at whitespace first: pysbd's rules
are regular expressions whose cost grows faster than the text.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any

with warnings.catch_warnings():
    # pysbd 0.3.4 has invalid escape sequences in its regex literals (compile-time
    # warnings when its bytecode is not cached); they do not change what it matches.
    warnings.simplefilter("ignore")
    import pysbd

_SLICE_CHARS = 20_000
# Languages with pysbd rules; others are segmented with the English rules.
_PYSBD_LANGUAGES = frozenset(
    [
        "am",
        "ar",
        "bg",
        "da",
        "de",
        "el",
        "en",
        "es",
        "fa",
        "fr",
        "hi",
        "hy",
        "it",
        "ja",
        "kk",
        "mr",
        "my",
        "nl",
        "pl",
        "ru",
        "sk",
        "ur",
        "zh",
    ]
)


@lru_cache(maxsize=8)
def _segmenter(language: str) -> Any:
    code = language if language in _PYSBD_LANGUAGES else "en"
    return pysbd.Segmenter(language=code, clean=False)


def split_sentences(blocks: Iterable[str], language: str = "en") -> Iterator[str]:
    """Every sentence of every block, stripped, in order."""
    segmenter = _segmenter(language)
    for block in blocks:
        for piece in _slices(block):
            for sentence in segmenter.segment(piece):
                if stripped := sentence.strip():
                    yield stripped


def _slices(block: str) -> Iterator[str]:
    while len(block) > _SLICE_CHARS:
        cut = block.rfind(". ", 0, _SLICE_CHARS)
        if cut < _SLICE_CHARS // 2:
            cut = block.rfind(" ", 0, _SLICE_CHARS)
        if cut <= 0:
            cut = _SLICE_CHARS
        yield block[: cut + 1]
        block = block[cut + 1 :]
    if block:
        yield block
