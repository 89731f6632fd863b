"""Tonality (sentiment) of a document: TextBlob's polarity and subjectivity over the
whole text, VADER's scores per sentence, and the bands that name them.

Fields (the Files spec's tonality answer):

- ``polarity`` in [-1, 1] (TextBlob). ``polarity_status`` by its magnitude:
  |p| <= 0.05 ``neutral``; <= 0.3 ``slightly_positive|negative``;
  <= 0.6 ``moderate_positive|negative``; above ``strong_positive|negative``.
- ``subjectivity`` in [0, 1] (TextBlob). ``subjectivity_status``: below 0.2
  ``objective``; 0.4 ``mostly_objective``; 0.6 ``mixed_subjective``; 0.8
  ``subjective``; from 0.8 ``highly_subjective``.
- ``objective_sentiment_score`` in [0, 1]: how factually the text carries its
  tone, the mean of TextBlob's objectivity (1 - subjectivity) and VADER's neutral
  share (the part of each sentence's wording that carries no sentiment, averaged
  over sentences). ``objective_sentiment_status``: below 0.35 ``low_objectivity``;
  below 0.65 ``balanced``; from 0.65 ``high_objectivity``.
- ``sentiment_compound`` in [-1, 1]: VADER's compound score, averaged over the
  sentences (VADER saturates on long texts, so it is never run on the whole).
- ``sentences``: per sentence, its text and ``polarity``, ``subjectivity``,
  ``compound`` (the first :data:`MAX_SENTENCES`; ``sentence_count`` counts all).

VADER's and TextBlob's lexicons are English: other languages get low-confidence
scores, which ``language`` lets a client notice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from services.ingest.worker.documents.errors import DocumentRejected

MAX_SENTENCES = 2_000


@dataclass(frozen=True)
class Band:
    status: str
    description: str


POLARITY_BANDS = {
    "neutral": "No clear positive or negative tone.",
    "slightly_positive": "A slightly positive tone.",
    "moderate_positive": "A clearly positive tone.",
    "strong_positive": "A strongly positive, enthusiastic tone.",
    "slightly_negative": "A slightly negative tone.",
    "moderate_negative": "A clearly negative tone.",
    "strong_negative": "A strongly negative, hostile or harshly critical tone.",
}
SUBJECTIVITY_BANDS = (
    (0.2, "objective", "Factual statements with next to no personal opinion."),
    (0.4, "mostly_objective", "Mostly factual, with a few opinions."),
    (0.6, "mixed_subjective", "A mix of facts and personal opinions."),
    (0.8, "subjective", "Mostly opinions, judgements and feelings."),
    (float("inf"), "highly_subjective", "Almost entirely opinion and feeling."),
)
OBJECTIVE_SENTIMENT_BANDS = (
    (0.35, "low_objectivity", "The tone rests on opinion and emotional wording."),
    (0.65, "balanced", "Facts and opinion carry the tone in comparable measure."),
    (float("inf"), "high_objectivity", "A mostly neutral, factual tone."),
)


def polarity_band(polarity: float) -> Band:
    magnitude = abs(polarity)
    if magnitude <= 0.05:
        status = "neutral"
    else:
        degree = "slightly" if magnitude <= 0.3 else "moderate" if magnitude <= 0.6 else "strong"
        status = f"{degree}_{'positive' if polarity > 0 else 'negative'}"
    return Band(status, POLARITY_BANDS[status])


def _band(value: float, bands: Sequence[tuple[float, str, str]]) -> Band:
    for upper, status, description in bands:
        if value < upper:
            return Band(status, description)
    raise AssertionError("the last band is unbounded")


def subjectivity_band(subjectivity: float) -> Band:
    return _band(subjectivity, SUBJECTIVITY_BANDS)


def objective_sentiment_band(score: float) -> Band:
    return _band(score, OBJECTIVE_SENTIMENT_BANDS)


@lru_cache(maxsize=1)
def _vader() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def _textblob(text: str) -> tuple[float, float]:
    from textblob import TextBlob

    sentiment = TextBlob(text).sentiment
    return float(sentiment.polarity), float(sentiment.subjectivity)


def analyse_tonality(sentences: Sequence[str]) -> dict[str, Any]:
    """The tonality fields above for a document split into ``sentences``."""
    if not sentences:
        raise DocumentRejected("the document contains no text to analyse")
    polarity, subjectivity = _textblob(" ".join(sentences))
    vader = _vader()
    scored: list[dict[str, Any]] = []
    compound_sum = neutral_sum = 0.0
    for index, sentence in enumerate(sentences):
        scores = vader.polarity_scores(sentence)
        compound_sum += scores["compound"]
        neutral_sum += scores["neu"]
        if index < MAX_SENTENCES:
            sentence_polarity, sentence_subjectivity = _textblob(sentence)
            scored.append(
                {
                    "text": sentence,
                    "polarity": round(sentence_polarity, 4),
                    "subjectivity": round(sentence_subjectivity, 4),
                    "compound": round(float(scores["compound"]), 4),
                }
            )
    count = len(sentences)
    objective = ((1.0 - subjectivity) + neutral_sum / count) / 2
    polarity_state = polarity_band(polarity)
    subjectivity_state = subjectivity_band(subjectivity)
    objective_state = objective_sentiment_band(objective)
    return {
        "polarity": round(polarity, 4),
        "subjectivity": round(subjectivity, 4),
        "objective_sentiment_score": round(objective, 4),
        "polarity_status": polarity_state.status,
        "polarity_description": polarity_state.description,
        "subjectivity_status": subjectivity_state.status,
        "subjectivity_description": subjectivity_state.description,
        "objective_sentiment_status": objective_state.status,
        "objective_sentiment_description": objective_state.description,
        "sentiment_compound": round(compound_sum / count, 4),
        "sentence_count": count,
        "sentences": scored,
    }
