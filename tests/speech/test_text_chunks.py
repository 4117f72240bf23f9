"""Sentence chunking: every sentence said exactly once, in order, within the model's limit."""
from __future__ import annotations

import pytest

from pipelines.text_chunks import chunk_text, normalize_text, split_sentences

SENTENCES = [
    "Dr. Smith arrived at 3.30 p.m. on Jan. 5th, 2024.",
    'He said, "Hello there!" and left the room.',
    "Mr. Jones paid $4.50 for it, i.e. a real bargain.",
    "The U.S.A. is big...",
    "Version 2.0.1 shipped on time.",
    '"Is it ready?" she asked.',
    '"Yes."',
    "Prof. Müller (b. 1961) wrote 1,000 pages, e.g. on St. Kilda.",
]
TEXT = " ".join(SENTENCES)


def test_sentences_with_abbreviations_numbers_and_quotes():
    assert split_sentences(TEXT) == SENTENCES


@pytest.mark.parametrize("limit", [60, 80, 120, 250, 1000])
def test_no_sentence_dropped_or_repeated(limit):
    chunks = chunk_text(TEXT, limit)
    assert all(len(c) <= limit for c in chunks)
    assert " ".join(chunks) == normalize_text(TEXT)
    for sentence in SENTENCES:  # each fits in 60, so each lies whole in exactly one chunk, once
        assert sum(c.count(sentence) for c in chunks) == 1, sentence
    # and in order
    positions = [" ".join(chunks).index(s) for s in SENTENCES]
    assert positions == sorted(positions)


def test_chunks_end_at_sentence_ends_when_sentences_fit():
    chunks = chunk_text(TEXT, 60)
    assert all(c.endswith((".", "!", '?"', '."', "...")) for c in chunks), chunks
    # abbreviations never end a chunk on their own
    assert not any(c.endswith(("Dr.", "Mr.", "Prof.", "i.e.", "e.g.", "St.", "Jan.", "p.m.")) for c in chunks)


def test_text_without_punctuation_splits_between_words():
    words = [f"word{i}" for i in range(200)]
    text = " ".join(words)
    chunks = chunk_text(text, 50)
    assert all(len(c) <= 50 for c in chunks)
    assert " ".join(chunks) == text
    assert [w for c in chunks for w in c.split()] == words  # no word cut, dropped or repeated


def test_long_sentence_splits_at_clauses_first():
    sentence = ("When the storm came in, the keeper lit the lamp; the ships turned, one by one, "
                "toward the harbour and its narrow, rocky mouth.")
    chunks = chunk_text(sentence, 50)
    assert " ".join(chunks) == sentence
    assert all(len(c) <= 50 for c in chunks)
    assert chunks[0] == "When the storm came in, the keeper lit the lamp;"


def test_a_word_longer_than_the_limit_is_cut_and_kept():
    url = "https://example.org/" + "a" * 70
    chunks = chunk_text(f"See {url} now.", 30)
    assert all(len(c) <= 30 for c in chunks)
    assert "".join(chunks).replace(" ", "") == f"See{url}now."


def test_fits_predicate_bounds_chunks_too():
    # a token limit: here, at most 6 words per chunk
    chunks = chunk_text(TEXT, 1000, fits=lambda piece: len(piece.split()) <= 6)
    assert all(len(c.split()) <= 6 for c in chunks)
    assert " ".join(chunks) == normalize_text(TEXT)


def test_other_languages_use_their_rules():
    text = "Guten Tag, Herr Dr. Müller. Wie geht es Ihnen? Gut, danke. Das kostet 3,50 € bzw. etwas mehr."
    assert split_sentences(text, "de") == ["Guten Tag, Herr Dr. Müller.", "Wie geht es Ihnen?", "Gut, danke.",
                                           "Das kostet 3,50 € bzw. etwas mehr."]
    # a language pySBD lacks falls back to the English rules, without losing text
    assert " ".join(chunk_text("Merhaba dünya. Nasılsın?", 20, "tr")) == "Merhaba dünya. Nasılsın?"


def test_typography_and_whitespace_are_normalised():
    assert normalize_text("  “Quoted”\u00a0text…\n\n  and  ‘more’ ") == '"Quoted" text... and \'more\''
    assert chunk_text("   \n ", 10) == []
    with pytest.raises(ValueError):
        chunk_text("text", 0)
