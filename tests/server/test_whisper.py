"""The faster-whisper adapter with the real tiny.en model: batched decoding gives each clip its own words."""

from __future__ import annotations

import difflib
import itertools

import ctranslate2
import jiwer
import numpy as np
import numpy.typing as npt
import pytest

from server.config import Settings
from server.jobs.hurry import hurry_policy
from server.transcribe.model_files import resolve_model
from server.transcribe.short_window import WindowRule
from server.transcribe.whisper import DecodeSettings, DevicePlan, FasterWhisperTranscriber, plan_device
from streaming.jobs import JobKind, TranscribeOptions, Word
from testbed import audio, corpora


def same_text(a: str, b: str) -> bool:
    """At most 10% of characters differ once case, punctuation and spacing are set aside."""
    a, b = (audio.normalize_text(t).replace(" ", "") for t in (a, b))
    return bool(jiwer.cer(a, b) <= 0.1) if a else not b


@pytest.fixture(scope="module")
def transcriber() -> FasterWhisperTranscriber:
    return FasterWhisperTranscriber(resolve_model("tiny.en", Settings().model_cache_dir), cpu_threads=2)


@pytest.mark.parametrize("kind", [JobKind.FINAL, JobKind.INTERIM])
def test_a_batch_transcribes_each_clip_like_a_call_of_its_own(
    transcriber: FasterWhisperTranscriber, kind: JobKind
) -> None:
    clips = corpora.librivox_clips()
    batch = transcriber.transcribe_batch([clip.audio for clip in clips], TranscribeOptions(), kind)
    assert len(batch) == len(clips)
    said = " ".join(w.text for words in batch for w in words)
    assert audio.wer(" ".join(clip.text for clip in clips), said) <= 0.12
    for clip, words in zip(clips, batch, strict=True):
        alone = transcriber.transcribe(clip.audio, TranscribeOptions(), kind)
        # Same words, on the clip's own clock (not the offset inside the batch). Batched
        # int8 kernels round differently, so a word may come out hyphenated in one and
        # not the other ("cold-hearted"): compare characters, not words.
        assert same_text(" ".join(w.text for w in alone), " ".join(w.text for w in words))
        assert 0.0 <= words[0].start < 1.0
        assert all(a.start <= b.start for a, b in itertools.pairwise(words))
        assert words[-1].end <= clip.duration + 0.05
        assert abs(words[0].start - alone[0].start) < 0.2 and abs(words[-1].end - alone[-1].end) < 0.3


def test_a_batch_of_one_and_of_none(transcriber: FasterWhisperTranscriber) -> None:
    clip = corpora.librivox_clips()[1]
    (words,) = transcriber.transcribe_batch([clip.audio], TranscribeOptions(), JobKind.FINAL)
    assert [w.text for w in words] == [
        w.text for w in transcriber.transcribe(clip.audio, TranscribeOptions(), JobKind.FINAL)
    ]
    assert transcriber.transcribe_batch([], TranscribeOptions(), JobKind.FINAL) == []


def test_window_rule_sizes_the_window_from_the_audio() -> None:
    rule = WindowRule(min_s=10.0, pad_s=3.0)
    assert rule.frames(100) == 1000  # 1 s of audio: the 10 s floor
    assert rule.frames(1234) == 1534  # audio + 3 s, even
    assert rule.frames(1235) == 1536
    assert rule.frames(2900) == 3000  # never past Whisper's 30 s
    assert rule.max_new_tokens(10.0) > rule.max_new_tokens(1.0) >= rule.min_tokens


@pytest.mark.parametrize(
    ("setting", "final", "interim"),
    [(None, False, True), ("all", True, True), ("off", False, False), ("true", True, True), ("false", False, False)],
)
def test_short_windows_apply_to_the_kinds_the_setting_names(
    monkeypatch: pytest.MonkeyPatch, setting: str | None, final: bool, interim: bool
) -> None:
    from server.runtime.embedded import default_transcriber_factory

    if setting is not None:
        monkeypatch.setenv("STREAMSCRIBE_SHORT_WINDOW", setting)
    settings = Settings(window_min_s=12.0)
    plan = DevicePlan("cpu", "int8", 1)
    made = default_transcriber_factory(settings, resolve_model("tiny.en", settings.model_cache_dir), plan)()
    assert isinstance(made, FasterWhisperTranscriber)
    expected = WindowRule(min_s=12.0, pad_s=settings.window_pad_s)
    assert made.decode.window(JobKind.FINAL) == (expected if final else None)
    assert made.decode.window(JobKind.INTERIM) == (expected if interim else None)
    # Only finals on the 30 s window can be hurried, onto a window of their own: with `all` a hurried
    # final keeps its (shorter) window, and with `off` nothing is hurried.
    hurrying = interim and not final
    assert (hurry_policy(settings) is not None) == hurrying
    hurried = WindowRule(min_s=settings.hurry_window_min_s, pad_s=settings.window_pad_s)
    assert made.decode.window(JobKind.FINAL, hurried=True) == (
        hurried if hurrying else made.decode.window(JobKind.FINAL)
    )
    assert made.decode.window(JobKind.INTERIM, hurried=True) == made.decode.window(JobKind.INTERIM)


def test_a_hurried_final_is_decoded_on_the_hurried_window_and_only_then(
    transcriber: FasterWhisperTranscriber,
) -> None:
    model = resolve_model("tiny.en", Settings().model_cache_dir)
    rule = WindowRule(min_s=15.0)
    hurrying = FasterWhisperTranscriber(model, cpu_threads=2, decode=DecodeSettings(hurried_window=rule))
    on_short = FasterWhisperTranscriber(model, cpu_threads=2, decode=DecodeSettings(final_window=rule))
    options = TranscribeOptions()
    for clip in corpora.librivox_clips()[:2]:
        hurried = hurrying.transcribe(clip.audio, options, JobKind.FINAL, hurried=True)
        usual = hurrying.transcribe(clip.audio, options, JobKind.FINAL)
        # Word for word and time for time the short window's decode; unhurried, the 30 s window's
        # (the two windows align words differently: a start or end moves by a frame or more).
        assert hurried == on_short.transcribe(clip.audio, options, JobKind.FINAL)
        assert usual == transcriber.transcribe(clip.audio, options, JobKind.FINAL)
        assert hurried != usual
        # The short window's price: at most a word of a sentence ("And Mr. John Dashwood" loses its "And").
        worse = audio.wer(clip.text, " ".join(w.text for w in hurried)) - audio.wer(
            clip.text, " ".join(w.text for w in usual)
        )
        assert worse <= 0.05


@pytest.fixture(scope="module")
def short_window() -> FasterWhisperTranscriber:
    return FasterWhisperTranscriber(
        resolve_model("tiny.en", Settings().model_cache_dir),
        cpu_threads=2,
        decode=DecodeSettings(final_window=WindowRule(), interim_window=WindowRule()),
    )


@pytest.mark.parametrize("kind", [JobKind.FINAL, JobKind.INTERIM])
def test_short_windows_say_what_the_30_s_window_says(
    transcriber: FasterWhisperTranscriber, short_window: FasterWhisperTranscriber, kind: JobKind
) -> None:
    librivox = corpora.librivox_clips()
    long_pcm, _ = audio.conversation(librivox[:4], gap_s=0.6, lead_s=0.2, tail_s=0.3)  # 23.7 s
    clips = [*librivox, corpora.jfk(), audio.Clip("long", long_pcm, " ".join(c.text for c in librivox[:4]))]
    extra_errors = 0
    for clip in clips:
        short = short_window.transcribe(clip.audio, TranscribeOptions(), kind)
        full = transcriber.transcribe(clip.audio, TranscribeOptions(), kind)
        assert short is not None and full is not None, f"{clip.name}: a whole utterance's reading withheld"
        said = " ".join(w.text for w in short)
        worse = audio.wer(clip.text, said) - audio.wer(clip.text, " ".join(w.text for w in full))
        extra = round(worse * len(audio.normalize_text(clip.text).split()))
        # Finals: at most 5 points on a clip (one word of a sentence: "And Mr. John Dashwood" loses
        # its "And"). Interims (greedy, replaced by their final) may mishear one word of one clip,
        # which can count twice ("ill-disposed" heard as "old-sposed" with ctranslate2 4.8).
        assert (worse <= 0.05) if kind is JobKind.FINAL else (extra <= 2), said
        extra_errors += max(0, extra)
        # Word times come from alignment on the short window: the same clock as the 30 s one.
        # Measured: most words within a frame or two; a sentence's last word may stretch into the
        # silence after it, and a word beside one that only one decode heard takes its time.
        shifts = [max(abs(a.start - b.start), abs(a.end - b.end)) for a, b in same_words(short, full)]
        assert shifts and max(shifts) < 0.5 and float(np.median(shifts)) < 0.1, (clip.name, shifts)
        assert short[-1].end <= clip.duration + 0.05
    assert extra_errors <= 2  # over all the clips: one such word in all


def same_words(a: list[Word], b: list[Word]) -> list[tuple[Word, Word]]:
    """The words both decodes said, paired where the two word sequences align."""
    blocks = difflib.SequenceMatcher(a=[w.text for w in a], b=[w.text for w in b], autojunk=False)
    return [(a[m.a + k], b[m.b + k]) for m in blocks.get_matching_blocks() for k in range(m.size)]


def tone(seconds: float, hz: float) -> npt.NDArray[np.int16]:
    t = np.arange(round(seconds * audio.RATE)) / audio.RATE
    return (np.sin(2 * np.pi * hz * t) * 8000).astype(np.int16)


@pytest.mark.parametrize("window", ["short", "30 s"])
def test_audio_that_makes_whisper_loop_gives_bounded_output(
    transcriber: FasterWhisperTranscriber, short_window: FasterWhisperTranscriber, window: str
) -> None:
    """Tones, noise bursts and one syllable over and over: the token cap and Whisper's quality checks
    keep the output short (a loop would fill the window with hundreds of words)."""
    burst = np.concatenate([audio.white_noise(0.3, 0.3, seed=i) if i % 2 else audio.silence(0.4) for i in range(20)])
    looped = np.concatenate([corpora.espeak("la")] * 30)[: 20 * audio.RATE]
    for name, pcm in (("tone", tone(12.0, 440.0)), ("bursts", burst), ("la la la", looped)):
        for kind in (JobKind.FINAL, JobKind.INTERIM):
            read = (short_window if window == "short" else transcriber).transcribe(pcm, TranscribeOptions(), kind)
            words = read or []  # an interim withheld as doubtful shows nothing: bounded too
            seconds = len(pcm) / audio.RATE
            assert len(words) <= WindowRule().max_new_tokens(seconds), (name, kind, len(words))
            assert len(words) <= 4 * seconds, (name, kind, " ".join(w.text for w in words))


def test_a_doubtful_interim_is_withheld_without_a_30_s_decode(short_window: FasterWhisperTranscriber) -> None:
    """An utterance's first half second and a burst of noise: the short window doubts its reading
    (empty, or unsure there is speech). An interim then says nothing rather than pay for the 30 s
    window; a final still checks on the 30 s window."""
    opening = corpora.librivox_clips()[0].audio[: audio.RATE // 2]
    noise = audio.white_noise(1.0, 0.05, seed=3)
    withheld, fallbacks = short_window.withheld_interims, short_window.window_fallbacks
    for pcm in (opening, noise):
        assert short_window.transcribe(pcm, TranscribeOptions(), JobKind.INTERIM) is None
    assert (short_window.withheld_interims - withheld, short_window.window_fallbacks - fallbacks) == (2, 0)
    for pcm in (opening, noise):
        assert short_window.transcribe(pcm, TranscribeOptions(), JobKind.FINAL) is not None
    assert short_window.window_fallbacks - fallbacks == 2
    # A whole utterance is read as usual.
    assert short_window.transcribe(corpora.jfk().audio, TranscribeOptions(), JobKind.INTERIM)


def test_the_device_decides_compute_type_and_batching_unless_set() -> None:
    assert plan_device("cpu", None, None) == DevicePlan("cpu", "int8", 1)
    assert plan_device("cuda", None, None) == DevicePlan("cuda", "float16", 8)
    assert plan_device("cuda", "int8_float16", 2) == DevicePlan("cuda", "int8_float16", 2)
    # auto: CUDA only where CTranslate2 sees a GPU (none on the CI machines: the CPU there).
    assert plan_device("auto", None, None).device == ("cuda" if ctranslate2.get_cuda_device_count() else "cpu")
