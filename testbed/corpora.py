"""Real speech with known text, cached under ``.cache/audio/``.

* :func:`espeak` -- synthetic speech from Debian ``espeak-ng``.
* :func:`librivox_clips` -- five short clips of real human speech (Jane
  Austen, *Sense and Sensibility*, read for LibriVox) shipped by Debian
  ``pocketsphinx-testdata``.
* :func:`jfk` -- the "ask not what your country can do for you" clip from
  whisper.cpp, taken out of the PyPI sdist of ``pywhispercpp``.

``python -m testbed.corpora`` fetches everything once, before the tests.
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
import wave
from pathlib import Path

import numpy as np

from testbed.audio import CACHE_DIR, RATE, Clip, Int16Array, read_wav, resample, write_wav_atomic

LIBRIVOX_DIR = Path("/usr/share/pocketsphinx/test/data/librivox")

JFK_PACKAGE = "pywhispercpp"
JFK_VERSION = "1.5.1"
JFK_MEMBER = f"{JFK_PACKAGE}-{JFK_VERSION}/whisper.cpp/samples/jfk.wav"
JFK_SHA256 = "59dfb9a4acb36fe2a2affc14bacbee2920ff435cb13cc314a08c13f66ba7860e"
JFK_TEXT = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."

_CACHE_VERSION = "v1"


# --------------------------------------------------------------------------- #
# Speech sources
# --------------------------------------------------------------------------- #


def espeak(text: str, voice: str = "en-us", words_per_minute: int = 160) -> Int16Array:
    """Synthesize ``text`` with Debian ``espeak-ng``, resampled to 16 kHz; cached on disk."""
    key = hashlib.sha256(json.dumps([_CACHE_VERSION, text, voice, words_per_minute]).encode()).hexdigest()[:24]
    cached = CACHE_DIR / "espeak" / f"{key}.wav"
    if cached.exists():
        return read_wav(cached)

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
    write_wav_atomic(cached, audio)
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
        clips.append(Clip(name=name, audio=read_wav(LIBRIVOX_DIR / f"{name}.wav"), text=m.group("text")))
    return clips


POCKETSPHINX_DATA = LIBRIVOX_DIR.parent
CARD_NUMBER = "29340334692334692"
"""17 digits passing the Luhn check, as `spoken_card_number` says them."""


def spoken_card_number() -> Clip:
    """A card number read out by real people: TIDIGITS' "two nine three four zero" and the
    pocketsphinx test recording "three three four six nine two" twice, 0.3 s apart (both
    16 kHz recordings from Debian ``pocketsphinx-testdata``): 17 digits, Luhn-valid."""
    first = np.frombuffer((POCKETSPHINX_DATA / "tidigits" / "dhd.2934z.raw").read_bytes(), dtype="<i2")
    second = np.frombuffer((POCKETSPHINX_DATA / "numbers.raw").read_bytes(), dtype="<i2")
    gap = np.zeros(int(0.3 * RATE), dtype=np.int16)
    pcm = np.concatenate([first, gap, second, gap, second]).astype(np.int16)
    return Clip(name="card-number", audio=pcm, text=" ".join(CARD_NUMBER))


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
    return Clip(name="jfk", audio=read_wav(path), text=JFK_TEXT)


def fetch_all() -> None:
    """Fetch or build every cached clip now (``python -m testbed.corpora``): one download, before the tests."""
    jfk()
    librivox_clips()


if __name__ == "__main__":
    try:
        fetch_all()
    except RuntimeError as error:
        print(f"test data: {error}", file=sys.stderr)
        sys.exit(1)
