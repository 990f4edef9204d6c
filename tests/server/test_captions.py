"""Caption cues (SRT, WebVTT, verbose_json segments) end at sentences, never at an abbreviation's period.
The page's cues follow the same rule: client-js/test/captions.test.mjs."""

from __future__ import annotations

import pytest

from server.uploads.formats import ends_sentence, group_words, render_srt, render_vtt
from streaming.jobs import Word


def words(text: str) -> list[Word]:
    """Words half a second apart: no pause, length or duration limit cuts them."""
    return [Word(token, i * 0.5, i * 0.5 + 0.4, 0.9) for i, token in enumerate(text.split())]


@pytest.mark.parametrize("word", ["you.", "Smith.", "Why?", "Go!", '"Go!"', "it.)", "so...", "well…", "a."])
def test_sentence_ends(word: str) -> None:
    assert ends_sentence(word)


@pytest.mark.parametrize(
    "word",
    ["Mr.", "mrs.", "Ms.", "Dr.", "St.", "Jr.", "Sr.", "Prof.", "vs.", "etc.", "e.g.", "i.e.", "U.S.", "J.", "(Mr."],
)
def test_abbreviations_do_not_end_a_sentence(word: str) -> None:
    assert not ends_sentence(word)


def test_srt_and_vtt_cues_are_not_cut_after_mr() -> None:
    spoken = words("Hello Mr. Smith and Dr. J. Doe of the U.S. Navy. How are you? Fine.")
    srt = render_srt(spoken)
    assert "\nHello Mr. Smith and Dr. J. Doe of the U.S. Navy.\n" in srt
    assert srt.count(" --> ") == 3
    vtt = render_vtt(spoken)
    assert "\nHello Mr. Smith and Dr. J. Doe of the U.S. Navy.\n" in vtt and vtt.count(" --> ") == 3


def test_verbose_json_segments_follow_the_same_rule() -> None:
    cues = group_words(words("I met Mrs. Jones, e.g. yesterday. She waved."), max_gap_s=1.0, break_after_sentence=True)
    assert [cue.text for cue in cues] == ["I met Mrs. Jones, e.g. yesterday.", "She waved."]
