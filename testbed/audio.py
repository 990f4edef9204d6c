"""Audio for tests, benchmarks and load tests: signals, encodings, WAV files, conversations, WER.

Everything here is 16 kHz mono int16 numpy arrays unless a function says
otherwise. Generated or downloaded files are cached under ``.cache/audio/`` in
the repository root, so only the first call pays for synthesis or download.

Real speech with its text comes from testbed.corpora.

This module deliberately does not import the project's own codecs or
resampler: test expectations should come from an independent implementation.
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import jiwer
import numpy as np
import numpy.typing as npt
import soxr  # type: ignore[import-untyped,unused-ignore]

Int16Array = npt.NDArray[np.int16]

RATE = 16_000
"""Sample rate of every array this module returns (except :func:`from_mulaw`)."""

REPO_ROOT = Path(__file__).resolve().parents[1]
CACHE_DIR = REPO_ROOT / ".cache" / "audio"


# --------------------------------------------------------------------------- #
# Data types
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Clip:
    """One utterance of speech with its reference transcript."""

    name: str
    audio: Int16Array
    text: str

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.audio) / RATE


@dataclass(frozen=True)
class Utterance:
    """Where one clip sits in a :func:`conversation` stream (seconds)."""

    text: str
    start: float
    end: float


# --------------------------------------------------------------------------- #
# Basic signals and conversions
# --------------------------------------------------------------------------- #


def _as_int16(audio: npt.ArrayLike) -> Int16Array:
    """int16 passes through; floats are taken as [-1, 1] full scale; other ints are clipped."""
    arr = np.asarray(audio)
    if arr.ndim != 1:
        raise ValueError(f"expected mono 1-D audio, got shape {arr.shape}")
    if arr.dtype == np.int16:
        return arr
    if np.issubdtype(arr.dtype, np.floating):
        return np.clip(np.round(arr * 32767.0), -32768, 32767).astype(np.int16)
    if np.issubdtype(arr.dtype, np.integer):
        clipped: Int16Array = np.clip(arr, -32768, 32767).astype(np.int16)
        return clipped
    raise TypeError(f"unsupported audio dtype {arr.dtype}")


def silence(seconds: float) -> Int16Array:
    """Digital silence (all zeros)."""
    if seconds < 0:
        raise ValueError("seconds must be >= 0")
    return np.zeros(round(seconds * RATE), dtype=np.int16)


def white_noise(seconds: float, level: float, seed: int = 0) -> Int16Array:
    """Gaussian white noise with RMS ``level`` as a fraction of full scale.

    ``level=0.01`` is about -40 dBFS, ``0.1`` about -20 dBFS. Deterministic for
    a given ``seed``.
    """
    if seconds < 0:
        raise ValueError("seconds must be >= 0")
    if not 0.0 <= level <= 1.0:
        raise ValueError(f"level is a fraction of full scale in [0, 1], got {level}")
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, level * 32767.0, round(seconds * RATE))
    return np.clip(np.round(noise), -32768, 32767).astype(np.int16)


def to_linear16(audio: npt.ArrayLike) -> bytes:
    """Raw little-endian signed 16-bit PCM, as sent with ``encoding=linear16``."""
    return _as_int16(audio).astype("<i2").tobytes()


# G.711 mu-law: exponent (segment) of a biased magnitude, indexed by magnitude >> 7.
_MULAW_SEGMENT = np.array([max(i, 1).bit_length() - 1 for i in range(256)], dtype=np.int32)
_MULAW_BIAS = 0x84
_MULAW_CLIP = 32635


def mulaw_encode(audio: npt.ArrayLike) -> bytes:
    """G.711 mu-law encode int16 samples (no resampling)."""
    x = _as_int16(audio).astype(np.int32)
    sign = np.where(x < 0, 0x80, 0x00)
    magnitude = np.minimum(np.abs(x), _MULAW_CLIP) + _MULAW_BIAS
    exponent = _MULAW_SEGMENT[magnitude >> 7]
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    codes: npt.NDArray[np.uint8] = (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)
    return codes.tobytes()


def from_mulaw(data: bytes) -> Int16Array:
    """G.711 mu-law decode to int16 at whatever rate the data was (8 kHz for :func:`to_mulaw_8k`)."""
    codes = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + _MULAW_BIAS) << exponent) - _MULAW_BIAS
    return np.where(codes & 0x80, -magnitude, magnitude).astype(np.int16)


def resample(audio: npt.ArrayLike, in_rate: int, out_rate: int) -> Int16Array:
    """Resample int16 mono audio with soxr (HQ)."""
    x = _as_int16(audio)
    if in_rate == out_rate:
        return x.copy()
    out: Int16Array = soxr.resample(x, in_rate, out_rate)
    return out


def to_mulaw_8k(audio: npt.ArrayLike) -> bytes:
    """16 kHz int16 -> 8 kHz G.711 mu-law bytes, as sent with ``encoding=mulaw&sample_rate=8000``."""
    return mulaw_encode(resample(audio, RATE, 8000))


# --------------------------------------------------------------------------- #
# Files
# --------------------------------------------------------------------------- #


def write_wav(path: str | os.PathLike[str], audio: npt.ArrayLike, rate: int = RATE) -> None:
    """Write mono 16-bit PCM WAV (parent directories are created)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(p), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(to_linear16(audio))


def write_wav_atomic(path: Path, audio: Int16Array) -> None:
    """Write a cache file so concurrent readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        write_wav(tmp, audio)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_audio(path: str | os.PathLike[str]) -> Int16Array:
    """Decode any file ffmpeg understands to 16 kHz mono int16 (PyAV + its resampler)."""
    chunks: list[Int16Array] = []
    resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1).astype(np.int16))
    for out in resampler.resample(None):
        chunks.append(out.to_ndarray().reshape(-1).astype(np.int16))
    if not chunks:
        return np.zeros(0, dtype=np.int16)
    return np.concatenate(chunks)


def read_wav(path: Path) -> Int16Array:
    """Fast path for 16 kHz mono 16-bit WAV; anything else goes through :func:`read_audio`."""
    try:
        with wave.open(str(path), "rb") as w:
            if w.getnchannels() == 1 and w.getsampwidth() == 2 and w.getframerate() == RATE:
                return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)
    except wave.Error:
        pass
    return read_audio(path)


# --------------------------------------------------------------------------- #
# Conversations
# --------------------------------------------------------------------------- #


def conversation(
    clips: Sequence[Clip],
    gap_s: float = 1.2,
    lead_s: float = 0.5,
    tail_s: float = 1.5,
    noise_floor: int = 0,
    seed: int = 0,
) -> tuple[Int16Array, list[Utterance]]:
    """Concatenate clips as one stream: ``lead_s`` silence, clips separated by ``gap_s``, then ``tail_s``.

    Each :class:`Utterance` spans exactly its clip's samples (including any
    silence recorded inside the clip). ``noise_floor`` > 0 adds uniform integer
    noise in ``[-noise_floor, noise_floor]`` LSB to the whole stream (saturating),
    so the gaps are not digital silence.
    """
    if min(gap_s, lead_s, tail_s) < 0:
        raise ValueError("gap_s, lead_s and tail_s must be >= 0")
    if noise_floor < 0:
        raise ValueError("noise_floor must be >= 0")
    parts: list[Int16Array] = [silence(lead_s)]
    utterances: list[Utterance] = []
    offset = len(parts[0])
    for i, clip in enumerate(clips):
        if i:
            gap = silence(gap_s)
            parts.append(gap)
            offset += len(gap)
        audio = _as_int16(clip.audio)
        parts.append(audio)
        utterances.append(Utterance(text=clip.text, start=offset / RATE, end=(offset + len(audio)) / RATE))
        offset += len(audio)
    parts.append(silence(tail_s))
    stream = np.concatenate(parts)
    if noise_floor:
        rng = np.random.default_rng(seed)
        noise = rng.integers(-noise_floor, noise_floor, size=len(stream), endpoint=True)
        stream = np.clip(stream.astype(np.int32) + noise, -32768, 32767).astype(np.int16)
    return stream, utterances


# --------------------------------------------------------------------------- #
# Text comparison
# --------------------------------------------------------------------------- #

# Token spellings treated as equal; left side is rewritten to the right side.
_TOKEN_ALIASES = {
    "mr": "mister",
    "mrs": "missus",
    "dr": "doctor",
    "ok": "okay",
    "&": "and",
}


def normalize_text(s: str) -> str:
    """Lowercase, strip punctuation (hyphens/dashes become spaces, apostrophes vanish), collapse whitespace.

    Also maps a few abbreviations to their spoken form ("Mr." -> "mister").
    Numbers are left alone: "2" and "two" still differ.
    """
    s = unicodedata.normalize("NFKC", s).lower()
    s = s.replace("&", " & ")
    s = re.sub(r"['\u2019\u2018`]", "", s)  # don't -> dont, on both sides alike
    s = re.sub(r"[^\w\s&]|_", " ", s)  # all other punctuation, hyphens and dashes included
    return " ".join(_TOKEN_ALIASES.get(tok, tok) for tok in s.split())


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate of ``hypothesis`` against ``reference`` after :func:`normalize_text`.

    An empty (after normalization) reference gives 0.0 for an empty hypothesis
    and 1.0 otherwise.
    """
    ref = normalize_text(reference)
    hyp = normalize_text(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return float(jiwer.wer(ref, hyp))
