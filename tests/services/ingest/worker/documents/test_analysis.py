"""Text extraction, keyword sentences, top keywords, language and tonality, on the
sample documents whose text is known."""

from __future__ import annotations

from pathlib import Path

import pytest

from samples import documents as samples
from services.ingest.worker.documents.errors import DocumentRejected
from services.ingest.worker.documents.kinds import PROSE_KINDS, DocumentKind
from services.ingest.worker.documents.parsing import sentences_with_keywords
from services.ingest.worker.documents.processor import DocumentProcessor
from services.ingest.worker.documents.sentences import split_sentences
from services.ingest.worker.documents.tonality import (
    objective_sentiment_band,
    polarity_band,
    subjectivity_band,
)

K = DocumentKind


def write(tmp_path: Path, kind: str, seed: int, **shape: int) -> tuple[Path, samples.KnownText]:
    document = samples.sample(kind, seed, **shape)
    path = tmp_path / document.name
    path.write_bytes(document.data)
    return path, document.text


@pytest.mark.parametrize("kind", sorted(PROSE_KINDS), ids=str)
async def test_parse_finds_exactly_the_sentences_with_the_keywords(
    processor: DocumentProcessor, tmp_path: Path, kind: DocumentKind
) -> None:
    path, text = write(tmp_path, str(kind), 21, sections=3, paragraphs=4)
    result = await processor.parse(path, kind, ["budget", "Migration Plan"])
    expected = sorted(
        set(text.sentences_with("budget")) | set(text.sentences_with("migration plan"))
    )
    assert sorted(result["sentences"]) == expected
    assert result["count"] == len(expected)
    assert result["keyword_counts"] == {
        "budget": len(text.sentences_with("budget")),
        "Migration Plan": len(text.sentences_with("migration plan")),
    }
    assert result["language"]["code"] == "en"
    keywords = result["top_keywords"]
    assert 1 <= len(keywords) <= 10
    assert all(isinstance(k["score"], float) for k in keywords)
    assert [k["score"] for k in keywords] == sorted(k["score"] for k in keywords)


async def test_parse_finds_a_marker_sentence_and_nothing_for_absent_words(
    processor: DocumentProcessor, tmp_path: Path
) -> None:
    path, text = write(tmp_path, "docx", 3, sections=2, paragraphs=2)
    result = await processor.parse(path, K.DOCX, ["quarry-0003-check", "zebra"])
    assert result["sentences"] == [text.marker]
    assert result["keyword_counts"] == {"quarry-0003-check": 1, "zebra": 0}


def test_keywords_match_whole_words_and_phrases_in_any_case() -> None:
    sentences = ["A plan.", "The planet is round.", "Plan-based work.", "MIGRATION\nplan now."]
    found, counts = sentences_with_keywords(sentences, ["plan", "migration plan"])
    assert found == ["A plan.", "Plan-based work.", "MIGRATION\nplan now."]
    assert counts == {"plan": 3, "migration plan": 1}


def test_sentences_keep_abbreviations_and_decimals_together() -> None:
    blocks = ["Dr. Smith paid $3.50 on Jan. 5. He was happy! Was he? Yes.", "Heading"]
    assert list(split_sentences(blocks)) == [
        "Dr. Smith paid $3.50 on Jan. 5.",
        "He was happy!",
        "Was he?",
        "Yes.",
        "Heading",
    ]


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Le conseil municipal a voté le budget de la ville pour l'année prochaine. " * 5, "fr"),
        ("Der Gemeinderat hat den Haushalt der Stadt für das nächste Jahr beschlossen. " * 5, "de"),
        ("Городской совет утвердил бюджет города на следующий год и план работ. " * 5, "ru"),
    ],
)
async def test_the_language_is_detected(
    processor: DocumentProcessor, tmp_path: Path, text: str, language: str
) -> None:
    path = tmp_path / "t.txt"
    path.write_text(text, encoding="utf-8")
    result = await processor.parse(path, K.TXT, ["budget"])
    assert result["language"]["code"] == language
    assert result["language"]["confidence"] > 0.9


@pytest.mark.parametrize("kind", ["docx", "pdf", "txt"])
async def test_tonality_tells_positive_from_negative_from_neutral(
    processor: DocumentProcessor, tmp_path: Path, kind: str
) -> None:
    scores = {}
    for seed in (30, 31, 32):  # positive, negative, neutral (seed % 3)
        path, text = write(tmp_path, kind, seed, sections=2, paragraphs=3)
        result = await processor.tonality(path, K(kind))
        scores[text.tone] = result
        for field in (
            "polarity",
            "subjectivity",
            "objective_sentiment_score",
            "polarity_status",
            "polarity_description",
            "subjectivity_status",
            "subjectivity_description",
            "objective_sentiment_status",
            "objective_sentiment_description",
        ):
            assert field in result
        assert result["sentence_count"] == len(result["sentences"]) > 10
        assert set(result["sentences"][0]) == {"text", "polarity", "subjectivity", "compound"}
    assert scores["positive"]["polarity"] > 0.3 > scores["neutral"]["polarity"]
    assert scores["negative"]["polarity"] < -0.3
    assert scores["positive"]["polarity_status"].endswith("_positive")
    assert scores["negative"]["polarity_status"].endswith("_negative")
    assert scores["neutral"]["polarity_status"] == "neutral"
    assert scores["positive"]["sentiment_compound"] > 0 > scores["negative"]["sentiment_compound"]
    assert (
        scores["neutral"]["objective_sentiment_score"]
        > scores["positive"]["objective_sentiment_score"]
    )


async def test_tonality_of_a_document_without_text_is_refused(
    processor: DocumentProcessor, tmp_path: Path
) -> None:
    path = tmp_path / "empty.html"
    path.write_text("<html><body><script>var x = 1;</script></body></html>")
    with pytest.raises(DocumentRejected, match="no text to analyse"):
        await processor.tonality(path, K.HTML)


async def test_tables_have_no_prose_to_analyse(
    processor: DocumentProcessor, tmp_path: Path
) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DocumentRejected, match="no prose"):
        await processor.parse(path, K.CSV, ["a"])


@pytest.mark.parametrize(
    ("value", "status"),
    [
        (-1.0, "strong_negative"),
        (-0.6, "moderate_negative"),
        (-0.3, "slightly_negative"),
        (-0.05, "neutral"),
        (0.0, "neutral"),
        (0.05, "neutral"),
        (0.051, "slightly_positive"),
        (0.3, "slightly_positive"),
        (0.45, "moderate_positive"),
        (0.61, "strong_positive"),
    ],
)
def test_polarity_bands(value: float, status: str) -> None:
    assert polarity_band(value).status == status


@pytest.mark.parametrize(
    ("value", "status"),
    [
        (0.0, "objective"),
        (0.2, "mostly_objective"),
        (0.5, "mixed_subjective"),
        (0.6, "subjective"),
        (1.0, "highly_subjective"),
    ],
)
def test_subjectivity_bands(value: float, status: str) -> None:
    assert subjectivity_band(value).status == status


@pytest.mark.parametrize(
    ("value", "status"), [(0.0, "low_objectivity"), (0.5, "balanced"), (0.65, "high_objectivity")]
)
def test_objective_sentiment_bands(value: float, status: str) -> None:
    assert objective_sentiment_band(value).status == status
