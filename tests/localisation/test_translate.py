"""Translate through the production path: the tiny MarianMT twin (built locally in the opus-mt layout
and loaded by the model layer), subtitles in, signed subtitles out.

The twin is English→German with random weights and a tokenizer of two SentencePiece models
trained on a few lines: it shows Marian's layout, tokenizer files and language pair, the batching
and the cue timing, not translation quality. It cannot show a multi-target Marian model's
`>>xx<<` tokens or NLLB's language codes; those are checked on `pick_language` alone below.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import srt
import webvtt

from pipelines.errors import InputError
from pipelines.runner import execute
from pipelines.translate import Request, parse_cues, pick_language

SRT = ("1\n00:00:00,500 --> 00:00:02,000\nHello there,\nkeeper.\n\n"
       "2\n00:00:02,500 --> 00:00:04,250\nThe lamp is lit tonight.\n\n"
       "3\n00:01:04,000 --> 00:01:06,000\nThe ships are coming home.\n")
VTT = ("WEBVTT\n\nNOTE made by hand\n\nintro\n00:00.500 --> 00:02.000 align:start\nHello there, keeper.\n\n"
       "00:00:02.500 --> 00:00:04.250\nThe lamp is lit tonight.\n")


def test_subtitles_are_translated_keeping_every_cue_time_and_published_as_srt_and_vtt(studio):
    outcome = studio.produce("translate", Request(text=SRT, target_language="de"), session_id="translate-test")
    by_suffix = {Path(i.path).suffix: Path(i.path) for i in outcome.items}
    assert sorted(by_suffix) == [".srt", ".vtt"]
    cues = list(srt.parse(by_suffix[".srt"].read_text(encoding="utf-8")))
    captions = webvtt.read(str(by_suffix[".vtt"])).captions
    assert [(c.start.total_seconds(), c.end.total_seconds()) for c in cues] == [(0.5, 2.0), (2.5, 4.25), (64.0, 66.0)]
    assert [(c.start, c.end) for c in captions] == [("00:00:00.500", "00:00:02.000"), ("00:00:02.500", "00:00:04.250"),
                                                    ("00:01:04.000", "00:01:06.000")]
    assert all(c.content.strip() for c in cues)
    assert all(len(line) <= 42 for c in cues for line in c.content.splitlines())
    params = outcome.items[0].params
    assert (params["source_language"], params["target_language"], params["cues"]) == ("en", "de", 3)
    assert params["license"].startswith("CC-BY-4.0")


def test_webvtt_and_a_plain_transcript_are_read(studio):
    result = execute(studio.models, "translate", Request(text=VTT, source_language="eng", target_language="deu"))
    assert result.format == "vtt" and [(c.start, c.end) for c in result.cues] == [(0.5, 2.0), (2.5, 4.25)]
    result = execute(studio.models, "translate", Request(text="Hello there.\n\nThe lamp is lit.\n"))
    assert result.format == "txt" and len(result.cues) == 2
    assert [a.suffix for a in result.artifacts] == [".txt"]
    assert len(result.artifacts[0].text.splitlines()) == 2


@pytest.mark.parametrize("kw, message", [
    ({"text": SRT.replace("00:00:02,500 -->", "00:00:02,500 ->")},
     r"SRT file does not parse at line 7: expected a cue timing.*found “00:00:02,500 -> 00:00:04,250”"),
    ({"text": SRT.replace("2\n00:00:02", "2\nhello\n00:00:02")},
     r"SRT file does not parse at line 7: expected a cue timing.*found “hello”"),
    ({"text": SRT.replace("00:01:06,000", "00:00:06,000")}, r"at line 11: the cue ends before it starts"),
    ({"text": VTT.replace("00:00:04.250", "00:00:4.25")}, r"WebVTT file does not parse at line 9"),
    ({"text": SRT, "target_language": "fr"}, r"no target language 'fr'. It has: de\."),
    ({"text": SRT, "source_language": "ja"}, r"no source language 'ja'. It has: en\."),
    ({"text": "1\n00:00:01,000 -> 00:00:02,000\nhi\n"}, r"SRT file does not parse at line 2"),
    ({"text": "   "}, "nothing to translate"),
    ({"text": SRT, "beams": 0}, "Beams 0 is out of range"),
])
def test_bad_inputs_are_refused_with_a_message(studio, kw, message):
    with pytest.raises(InputError, match=message):
        execute(studio.models, "translate", Request(**kw))


def test_languages_are_matched_by_iso_or_model_codes():
    nllb = ("deu_Latn", "eng_Latn", "fra_Latn", "zho_Hans")
    assert pick_language("fr", nllb, "target") == "fra_Latn"
    assert pick_language("fra", nllb, "target") == "fra_Latn"
    assert pick_language("zho_Hans", nllb, "target") == "zho_Hans"
    assert pick_language("", ("de",), "target") == "de"
    assert pick_language("deu", ("de",), "target") == "de"
    with pytest.raises(InputError, match="Name the source language: this model has 4"):
        pick_language("", nllb, "source")
    with pytest.raises(InputError, match="It has: deu_Latn, eng_Latn, fra_Latn, zho_Hans"):
        pick_language("sw", nllb, "target")


def test_a_transcript_export_reads_back_as_the_same_cues():
    from pipelines.transcribe import Segment, to_srt, to_vtt

    segments = [Segment(0.0, 1.5, "One."), Segment(1.5, 3.0, "Two words.")]
    for text, kind in ((to_srt(segments), "srt"), (to_vtt(segments), "vtt")):
        read_kind, cues = parse_cues(text)
        assert read_kind == kind
        assert [(c.text, c.start, c.end) for c in cues] == [("One.", 0.0, 1.5), ("Two words.", 1.5, 3.0)]


def test_the_translate_endpoint_names_the_line_that_does_not_parse(live_url):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(live_url, verbose=False)
    broken = SRT.replace("00:00:02,500 -->", "00:00:02,500 ->")
    with pytest.raises(AppError, match="does not parse at line 7"):
        client.predict(broken, "tiny-marian", "", "de", 2, api_name="/generate_translate")
    _, downloads, _, status = client.predict(SRT, "tiny-marian", "", "de", 2, api_name="/generate_translate")
    assert sorted(Path(f).suffix for f in downloads) == [".srt", ".vtt"]
    assert [c.start.total_seconds() for c in srt.parse(Path(next(f for f in downloads if f.endswith(".srt")))
                                                        .read_text(encoding="utf-8"))] == [0.5, 2.5, 64.0]
