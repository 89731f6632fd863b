"""The parse-file analysis: the sentences that contain the requested keywords, the
document's own top keywords (YAKE) and its language (py3langid, offline).

Keyword matching is case-insensitive and on word boundaries (``plan`` matches
"Plan." and "plan-based", not "planet"); a keyword of several words matches them as
a phrase with any whitespace between. YAKE scores are "lower is more relevant".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

# The language model and the keyword statistics look at the start of a long
# document only: enough for a stable answer, bounded in time.
SAMPLE_CHARS = 300_000
_YAKE_LANGUAGE = {"cs": "cz"}  # YAKE names its Czech stopword list "cz"


@lru_cache(maxsize=1)
def _language_identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(text: str) -> dict[str, Any]:
    """``{"code": ISO 639-1, "confidence": 0..1}``; ``code`` is None for no text."""
    sample = text[:SAMPLE_CHARS]
    if not re.search(r"\w", sample):
        return {"code": None, "confidence": 0.0}
    code, confidence = _language_identifier().classify(sample)
    return {"code": str(code), "confidence": round(float(confidence), 4)}


def _yake_language(code: str | None) -> str:
    name = _YAKE_LANGUAGE.get(code or "", code or "en")
    stopwords = resources.files("yake.core").joinpath("StopwordsList", f"stopwords_{name}.txt")
    return name if stopwords.is_file() else "en"


def top_keywords(text: str, language: str | None, count: int) -> list[dict[str, Any]]:
    """The ``count`` most relevant keywords and key phrases (up to three words)."""
    import yake

    sample = text[:SAMPLE_CHARS]
    if not re.search(r"\w", sample):
        return []
    extractor = yake.KeywordExtractor(lan=_yake_language(language), n=3, top=count, dedupLim=0.7)
    return [
        {"keyword": str(keyword), "score": round(float(score), 6)}
        for keyword, score in extractor.extract_keywords(sample)
    ]


def keyword_pattern(keyword: str) -> re.Pattern[str] | None:
    """A case-insensitive pattern matching ``keyword`` on word boundaries."""
    words = keyword.split()
    if not words:
        return None
    phrase = r"\s+".join(re.escape(word) for word in words)
    return re.compile(rf"(?<!\w){phrase}(?!\w)", re.I)


def sentences_with_keywords(
    sentences: Iterable[str], keywords: Sequence[str]
) -> tuple[list[str], dict[str, int]]:
    """The sentences containing any keyword, in document order, and how many
    sentences each keyword (as given) was found in."""
    patterns = {k: p for k in dict.fromkeys(keywords) if (p := keyword_pattern(k)) is not None}
    per_keyword = dict.fromkeys(patterns, 0)
    found: list[str] = []
    for sentence in sentences:
        hits = [k for k, pattern in patterns.items() if pattern.search(sentence)]
        if hits:
            found.append(sentence)
            for keyword in hits:
                per_keyword[keyword] += 1
    return found, per_keyword
