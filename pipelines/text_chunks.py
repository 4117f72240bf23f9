"""Split long text into chunks a speech model can say in one go, at sentence boundaries.

Sentences come from pySBD (the rule-based segmenter Coqui TTS itself uses), which knows
abbreviations ("Dr.", "e.g."), decimals ("4.50"), initialisms ("U.S.A.") and quoted speech. Every
sentence is then located in the original text as a contiguous slice, so the chunks cover the
text exactly once, in order: nothing is dropped or repeated even where pySBD cleans or misplaces
text. Sentences are packed greedily into chunks within the limit; a sentence longer than the
limit is split at clause punctuation, then between words, and only a single over-long "word"
(a URL, say) is cut between characters.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from typing import Callable

# pySBD's languages; others are segmented with the English rules (as Coqui does).
_PYSBD_FALLBACK = "en"
_CLAUSE_BREAK = re.compile(r"(?<=[,;:\u2014\u2013])\s+|\s+(?=[\u2014\u2013-]\s)")
_WHITESPACE = re.compile(r"\s+")
# Typographic characters many voices lack, written the way their vocabularies have them.
_TYPOGRAPHY = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u201c": '"',
                             "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"', "\u2026": "...",
                             "\u00a0": " ", "\u2009": " ", "\u202f": " "})


def normalize_text(text: str) -> str:
    """NFC, straight quotes, plain spaces, whitespace runs collapsed; the words are unchanged."""
    text = unicodedata.normalize("NFC", text).translate(_TYPOGRAPHY)
    return _WHITESPACE.sub(" ", text).strip()


def _segmenter(language: str):
    """A new segmenter per call: pySBD's `segment` keeps the text on the object
    (`original_text`) and reads it back later, so one shared between threads mixes their
    texts. Making one costs a dictionary lookup."""
    import pysbd

    return pysbd.Segmenter(language=_pysbd_code(language), clean=False)


@functools.lru_cache(maxsize=32)
def _pysbd_code(language: str) -> str:
    import pysbd

    code = language.split("-")[0].lower()
    return code if code in pysbd.languages.LANGUAGE_CODES else _PYSBD_FALLBACK


def split_sentences(text: str, language: str = "en") -> list[str]:
    """The sentences of `text`, stripped, in order; joined with spaces they give back the text
    (up to whitespace)."""
    text = text.strip()
    if not text:
        return []
    sentences, cursor = [], 0
    for segment in _segmenter(language).segment(text):
        segment = segment.strip()
        if not segment:
            continue
        start = text.find(segment, cursor)
        if start < 0:
            break  # pySBD changed the text: whatever is left is kept whole, below
        if text[cursor:start].strip():
            # text pySBD skipped over belongs to the previous sentence, never lost
            _append_to_last(sentences, text[cursor:start])
        sentences.append(segment)
        cursor = start + len(segment)
    rest = text[cursor:].strip()
    if rest:
        if sentences and not any(ch.isalnum() for ch in rest):
            _append_to_last(sentences, rest)  # a stray closing quote or bracket
        else:
            sentences.append(rest)
    return sentences


def _append_to_last(sentences: list[str], extra: str) -> None:
    if sentences:
        sentences[-1] = f"{sentences[-1]} {extra.strip()}"
    else:
        sentences.append(extra.strip())


def chunk_text(text: str, max_chars: int, language: str = "en",
               fits: Callable[[str], bool] | None = None) -> list[str]:
    """Chunks of at most `max_chars` characters (and accepted by `fits`, e.g. a token limit).

    Whole sentences are packed together while they fit; the chunks joined with spaces equal
    `normalize_text(text)` (except where a single word longer than a chunk had to be cut).
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, not {max_chars}")

    def ok(piece: str) -> bool:
        return len(piece) <= max_chars and (fits is None or fits(piece))

    pieces: list[str] = []
    for sentence in split_sentences(normalize_text(text), language):
        pieces.extend([sentence] if ok(sentence) else _split_long(sentence, ok))
    return _pack(pieces, ok)


def _pack(pieces: list[str], ok: Callable[[str], bool]) -> list[str]:
    chunks: list[str] = []
    for piece in pieces:
        if chunks and ok(joined := f"{chunks[-1]} {piece}"):
            chunks[-1] = joined
        else:
            chunks.append(piece)
    return chunks


def _split_long(sentence: str, ok: Callable[[str], bool]) -> list[str]:
    """A sentence over the limit: clauses, then words, then characters of one over-long word."""
    clauses = [c for c in _CLAUSE_BREAK.split(sentence) if c.strip()]
    out: list[str] = []
    for clause in clauses:
        if ok(clause):
            out.append(clause)
            continue
        for word in clause.split():
            out.extend([word] if ok(word) else _cut_word(word, ok))
    return _pack(out, ok)


def _cut_word(word: str, ok: Callable[[str], bool]) -> list[str]:
    parts, start = [], 0
    while start < len(word):
        end = start + 1
        while end < len(word) and ok(word[start:end + 1]):
            end += 1
        parts.append(word[start:end])
        start = end
    return parts
