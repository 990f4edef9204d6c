"""Real speech audio with known text, for tests and benchmarks.

Everything here is 16 kHz mono int16 numpy arrays unless a function says
otherwise. Generated or downloaded files are cached under ``.cache/audio/`` in
the repository root, so only the first call pays for synthesis or download.

Sources:

* :func:`espeak` -- synthetic speech from Debian ``espeak-ng``.
* :func:`librivox_clips` -- five short clips of real human speech (Jane
  Austen, *Sense and Sensibility*, read for LibriVox) shipped by Debian
  ``pocketsphinx-testdata``.
* :func:`jfk` -- the "ask not what your country can do for you" clip from
  whisper.cpp, taken out of the PyPI sdist of ``pywhispercpp``.

This module deliberately does not import the project's own codecs or
resampler: test expectations should come from an independent implementation.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
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

LIBRIVOX_DIR = Path("/usr/share/pocketsphinx/test/data/librivox")

JFK_PACKAGE = "pywhispercpp"
JFK_VERSION = "1.5.1"
JFK_MEMBER = f"{JFK_PACKAGE}-{JFK_VERSION}/whisper.cpp/samples/jfk.wav"
JFK_SHA256 = "59dfb9a4acb36fe2a2affc14bacbee2920ff435cb13cc314a08c13f66ba7860e"
JFK_TEXT = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."

_CACHE_VERSION = "v1"


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


def _write_wav_atomic(path: Path, audio: Int16Array) -> None:
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


def _read_wav(path: Path) -> Int16Array:
    """Fast path for 16 kHz mono 16-bit WAV; anything else goes through :func:`read_audio`."""
    try:
        with wave.open(str(path), "rb") as w:
            if w.getnchannels() == 1 and w.getsampwidth() == 2 and w.getframerate() == RATE:
                return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)
    except wave.Error:
        pass
    return read_audio(path)


# --------------------------------------------------------------------------- #
# Speech sources
# --------------------------------------------------------------------------- #


def espeak(text: str, voice: str = "en-us", words_per_minute: int = 160) -> Int16Array:
    """Synthesize ``text`` with Debian ``espeak-ng``, resampled to 16 kHz; cached on disk."""
    key = hashlib.sha256(json.dumps([_CACHE_VERSION, text, voice, words_per_minute]).encode()).hexdigest()[:24]
    cached = CACHE_DIR / "espeak" / f"{key}.wav"
    if cached.exists():
        return _read_wav(cached)

    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng not found; install the Debian package 'espeak-ng'")
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "out.wav"
        cmd = [exe, "-v", voice, "-s", str(words_per_minute), "-w", str(raw), "--", text]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if proc.returncode != 0 or not raw.exists():
            raise RuntimeError(f"espeak-ng failed (rc={proc.returncode}): {proc.stderr.strip()}")
        with wave.open(str(raw), "rb") as w:
            if w.getnchannels() != 1 or w.getsampwidth() != 2:
                raise RuntimeError(f"unexpected espeak-ng output format: {w.getparams()}")
            in_rate = w.getframerate()
            samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)
    audio = resample(samples, in_rate, RATE)
    _write_wav_atomic(cached, audio)
    return audio


def espeak_clip(text: str, voice: str = "en-us", words_per_minute: int = 160) -> Clip:
    """:func:`espeak` wrapped as a :class:`Clip` (name derived from the text)."""
    name = "espeak-" + re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]
    return Clip(name=name, audio=espeak(text, voice, words_per_minute), text=text)


_TRANSCRIPT_LINE = re.compile(r"^\s*(?:<s>)?\s*(?P<text>.*?)\s*(?:</s>)?\s*\((?P<id>[^()]+)\)\s*$")


def librivox_clips() -> list[Clip]:
    """The five LibriVox clips from Debian ``pocketsphinx-testdata`` (real human speech).

    Texts are lowercase and unpunctuated as in the corpus transcript; note it
    spells "mister" and keeps the reader's disfluency "a more a amiable".
    """
    transcription = LIBRIVOX_DIR / "transcription"
    if not transcription.exists():
        raise RuntimeError(f"{transcription} not found; install the Debian package 'pocketsphinx-testdata'")
    clips: list[Clip] = []
    for line in transcription.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        m = _TRANSCRIPT_LINE.match(line)
        if m is None:
            raise RuntimeError(f"cannot parse transcription line: {line!r}")
        name = m.group("id").strip()
        clips.append(Clip(name=name, audio=_read_wav(LIBRIVOX_DIR / f"{name}.wav"), text=m.group("text")))
    return clips


_PIP_TIMEOUT_S = 300
"""Upper bound on the sdist download; pip's own network timeouts are shorter."""

_jfk_failure: str | None = None
"""Why the download failed in this process: later calls fail at once instead of retrying."""


def _run_pip_download(dest_dir: str) -> subprocess.CompletedProcess[str]:
    """``pip download`` of the sdist alone, in its own process group.

    ``--no-binary`` names only this package: with ``:all:`` it would also apply
    to the sdist's build requirements and pip would compile CMake from source.
    On a timeout the whole process group is killed, so no build pip started is
    left running.
    """
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        JFK_PACKAGE,
        "--disable-pip-version-check",
        "--retries",
        "2",
        "--timeout",
        "30",
        f"{JFK_PACKAGE}=={JFK_VERSION}",
        "-d",
        dest_dir,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=_PIP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise RuntimeError(f"pip download of {JFK_PACKAGE}=={JFK_VERSION} took over {_PIP_TIMEOUT_S} s") from None
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, output, "")


def _extract_jfk(sdist: Path) -> bytes:
    with tarfile.open(sdist, "r:gz") as tar:
        try:
            member = tar.getmember(JFK_MEMBER)
        except KeyError:
            raise RuntimeError(f"{JFK_MEMBER} not found in {sdist.name}") from None
        fileobj = tar.extractfile(member)
        if fileobj is None:
            raise RuntimeError(f"{JFK_MEMBER} in {sdist.name} is not a regular file")
        return fileobj.read()


def _download_jfk(dest: Path) -> None:
    print(
        f"fetching test data: jfk.wav from the PyPI sdist of {JFK_PACKAGE}=={JFK_VERSION} (once, into {dest.parent})",
        file=sys.stderr,
        flush=True,
    )
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            proc = _run_pip_download(tmp)
        except OSError as exc:
            raise RuntimeError(f"could not run pip to download {JFK_PACKAGE}=={JFK_VERSION}: {exc}") from exc
        sdists = sorted(Path(tmp).glob(f"{JFK_PACKAGE}-*.tar.gz"))
        if proc.returncode != 0 or not sdists:
            tail = "\n".join(proc.stdout.strip().splitlines()[-15:])
            raise RuntimeError(
                f"could not download the {JFK_PACKAGE}=={JFK_VERSION} sdist (for jfk.wav): pip exited "
                f"{proc.returncode}; is the package index reachable (pip's index settings apply)?\n{tail}"
            )
        data = _extract_jfk(sdists[0])
    digest = hashlib.sha256(data).hexdigest()
    if digest != JFK_SHA256:
        raise RuntimeError(f"jfk.wav from {JFK_PACKAGE}=={JFK_VERSION} has sha256 {digest}, expected {JFK_SHA256}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=dest.name, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp_name, dest)
    print(f"fetched jfk.wav in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)


def _fetch_jfk_once(path: Path) -> None:
    """Download under an exclusive lock (concurrent test processes wait for one download).

    A failure is remembered for the rest of the process, so a run whose index
    is unreachable reports it once per test, at once, instead of downloading
    again for every test that needs the clip.
    """
    global _jfk_failure
    if _jfk_failure is not None:
        raise RuntimeError(_jfk_failure)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / ".jfk.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            return
        try:
            _download_jfk(path)
        except RuntimeError as exc:
            _jfk_failure = str(exc)
            raise


def jfk() -> Clip:
    """JFK's "ask not" clip (11 s, 16 kHz) from the ``pywhispercpp`` sdist; downloaded once, then cached."""
    path = CACHE_DIR / "jfk.wav"
    if not path.exists():
        _fetch_jfk_once(path)
    return Clip(name="jfk", audio=_read_wav(path), text=JFK_TEXT)


def fetch_all() -> None:
    """Fetch or build every cached clip now (``python -m tests.audio``): one download, before the tests."""
    jfk()
    librivox_clips()


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


if __name__ == "__main__":
    try:
        fetch_all()
    except RuntimeError as error:
        print(f"test data: {error}", file=sys.stderr)
        sys.exit(1)
