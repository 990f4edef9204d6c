"""Quick checks of the speech fixtures in testbed/audio.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from testbed import audio, corpora


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))


def test_librivox_clips() -> None:
    clips = corpora.librivox_clips()
    assert len(clips) == 5
    assert len({c.name for c in clips}) == 5
    for clip in clips:
        assert clip.audio.dtype == np.int16
        assert clip.audio.ndim == 1
        assert 2.0 < clip.duration < 10.0
        assert clip.text and clip.text == clip.text.strip()
        assert "<s>" not in clip.text and "</s>" not in clip.text and "(" not in clip.text
        assert _rms(clip.audio) > 100  # real speech, not silence
    assert clips[0].text.startswith("and mister john dashwood")


def test_jfk() -> None:
    clip = corpora.jfk()
    assert clip.audio.dtype == np.int16
    assert clip.duration == pytest.approx(11.0, abs=0.05)
    assert "ask not what your country can do for you" in clip.text
    assert _rms(clip.audio) > 100


def test_espeak_is_cached_and_plausible() -> None:
    text = "The quick brown fox jumps over the lazy dog."
    first = corpora.espeak(text)
    second = corpora.espeak(text)
    assert first.dtype == np.int16
    np.testing.assert_array_equal(first, second)
    assert 1.5 < len(first) / audio.RATE < 6.0
    assert _rms(first) > 100
    slower = corpora.espeak(text, words_per_minute=100)
    assert len(slower) > len(first)


def test_conversation_boundaries() -> None:
    a = audio.Clip("a", np.full(8000, 1000, dtype=np.int16), "first")
    b = audio.Clip("b", np.full(16000, -1000, dtype=np.int16), "second")
    stream, utts = audio.conversation([a, b], gap_s=1.0, lead_s=0.5, tail_s=2.0)
    assert [u.text for u in utts] == ["first", "second"]
    assert (utts[0].start, utts[0].end) == (0.5, 1.0)
    assert (utts[1].start, utts[1].end) == (2.0, 3.0)
    assert len(stream) == 5 * audio.RATE
    for u, clip in zip(utts, (a, b), strict=True):
        seg = stream[round(u.start * audio.RATE) : round(u.end * audio.RATE)]
        np.testing.assert_array_equal(seg, clip.audio)
    assert not stream[:8000].any()
    assert not stream[round(1.0 * audio.RATE) : 2 * audio.RATE].any()
    assert not stream[3 * audio.RATE :].any()


def test_conversation_noise_floor() -> None:
    clip = audio.Clip("a", np.zeros(1600, dtype=np.int16), "x")
    stream, _ = audio.conversation([clip, clip], noise_floor=3)
    assert stream.any()
    assert int(np.abs(stream).max()) <= 3


def test_wav_round_trip(tmp_path: Path) -> None:
    x = audio.white_noise(0.5, 0.1, seed=1)
    path = tmp_path / "sub" / "x.wav"
    audio.write_wav(path, x)
    np.testing.assert_array_equal(audio.read_audio(path), x)
    audio.write_wav(path, audio.resample(x, audio.RATE, 8000), rate=8000)
    assert abs(len(audio.read_audio(path)) - len(x)) <= 32  # resampled back to 16 kHz


def test_wer() -> None:
    assert audio.wer("ask not what your country", "Ask not, what your country!") == 0.0
    assert audio.wer("mr smith", "mister smith") == 0.0
    assert audio.wer("and mister john dashwood", "And Mr. John Dashwood.") == 0.0
    assert audio.wer("cold hearted", "cold-hearted") == 0.0
    assert audio.wer("a b c d", "a b") == 0.5
    assert audio.normalize_text("  Don't   STOP—now ") == "dont stop now"


def test_mulaw_round_trip_sine() -> None:
    t = np.arange(audio.RATE) / audio.RATE
    sine = (0.5 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    encoded = audio.to_mulaw_8k(sine)
    assert isinstance(encoded, bytes)
    assert len(encoded) == 8000
    decoded = audio.from_mulaw(encoded)
    reference = audio.resample(sine, audio.RATE, 8000).astype(np.float64)
    error = decoded.astype(np.float64) - reference
    snr_db = 10 * np.log10(np.mean(reference**2) / np.mean(error**2))
    assert snr_db > 30  # G.711 gives ~38 dB on a half-scale tone


def test_mulaw_codes() -> None:
    assert audio.mulaw_encode(np.array([0, 32767, -32768, -1], dtype=np.int16)) == bytes([0xFF, 0x80, 0x00, 0x7F])
    x = np.arange(-32768, 32768, dtype=np.int16)
    codes = np.frombuffer(audio.mulaw_encode(x), dtype=np.uint8)
    assert np.all(np.diff(codes[x >= 0].astype(int)) <= 0)  # monotone
    # Sign-symmetric: -x differs from x only in the sign bit.
    pos = np.arange(1, 32768, dtype=np.int16)
    neg_codes = np.frombuffer(audio.mulaw_encode(-pos), dtype=np.uint8)
    pos_codes = np.frombuffer(audio.mulaw_encode(pos), dtype=np.uint8)
    np.testing.assert_array_equal(neg_codes ^ 0x80, pos_codes)


def test_linear16_and_signals() -> None:
    x = np.array([1, -2, 32767], dtype=np.int16)
    assert audio.to_linear16(x) == b"\x01\x00\xfe\xff\xff\x7f"
    assert len(audio.silence(0.25)) == 4000 and not audio.silence(0.25).any()
    noise = audio.white_noise(1.0, 0.01)
    assert len(noise) == audio.RATE
    assert _rms(noise) == pytest.approx(327.67, rel=0.05)


def test_an_unreachable_index_fails_with_a_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a machine without the package index sees: one clear error naming the likely cause."""
    for name in ("PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # the discard port: refused
    with pytest.raises(RuntimeError, match="is the package index reachable"):
        corpora._download_jfk(tmp_path / "jfk.wav")
    assert not (tmp_path / "jfk.wav").exists()
