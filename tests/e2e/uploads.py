"""Files for the upload tests (real speech in every common container, made with
Debian ffmpeg, and bad inputs), clients and request helpers."""

from __future__ import annotations

import subprocess
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
from deepgram import DeepgramClient
from deepgram.environment import DeepgramClientEnvironment
from openai import OpenAI

from testbed import audio, corpora
from testbed.server import ServerProcess

# WER bounds on real speech: lossless and lossy containers alike (tiny.en int8).
WER_BOUND = 0.2
JFK_WER_BOUND = 0.15

# extension -> (ffmpeg output options, what libmagic must call it)
CONTAINERS: dict[str, tuple[list[str], str]] = {
    "wav": (["-c:a", "pcm_s16le", "-ar", "44100"], "audio/x-wav"),
    "flac": (["-c:a", "flac", "-ar", "22050"], "audio/flac"),
    "mp3": (["-c:a", "libmp3lame", "-b:a", "64k", "-ar", "44100"], "audio/mpeg"),
    "ogg": (["-c:a", "libopus", "-b:a", "32k"], "audio/ogg"),
    "webm": (["-c:a", "libopus", "-b:a", "32k"], "video/webm"),
    "m4a": (["-c:a", "aac", "-b:a", "64k"], "audio/x-m4a"),
    "mp4": (["-c:a", "aac", "-b:a", "64k"], "video/mp4"),
}


def ffmpeg(source: Path, target: Path, options: list[str]) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(source), "-vn", *options, str(target)], check=True)
    return target


def make_files(root: Path) -> dict[str, Path]:
    """Real speech (JFK, then a LibriVox clip) in every container, plus JFK alone and bad inputs, in `root`."""
    jfk, clip = corpora.jfk(), corpora.librivox_clips()[0]
    pcm, _ = audio.conversation([jfk, clip], gap_s=1.0, lead_s=0.3, tail_s=0.7)
    source = root / "source.wav"
    audio.write_wav(source, pcm)
    made = {ext: ffmpeg(source, root / f"speech.{ext}", options) for ext, (options, _) in CONTAINERS.items()}
    audio.write_wav(root / "jfk.wav", jfk.audio)
    made["jfk"] = ffmpeg(root / "jfk.wav", root / "jfk.ogg", CONTAINERS["ogg"][0])
    made["jfk.wav"] = root / "jfk.wav"
    long_pcm, _ = audio.conversation([jfk, *corpora.librivox_clips(), jfk], gap_s=1.0)
    audio.write_wav(root / "long.wav", long_pcm)
    made["long"] = ffmpeg(root / "long.wav", root / "long.mp3", CONTAINERS["mp3"][0])
    webm = made["webm"].read_bytes()
    made["truncated"] = root / "truncated.webm"
    made["truncated"].write_bytes(webm[: len(webm) // 2])
    made["png"] = root / "picture.wav"
    made["png"].write_bytes(
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
        b"\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82"
    )
    made["text"] = root / "notes.txt"
    made["text"].write_text("These are the meeting notes and not a recording\n" * 40)
    made["empty"] = root / "empty.wav"
    made["empty"].write_bytes(b"")
    audio.write_wav(root / "silence.wav", audio.silence(8.0))
    made["silence"] = root / "silence.wav"
    stereo = root / "stereo.wav"
    right = np.zeros_like(pcm)
    right[: len(clip.audio)] = clip.audio
    with wave.open(str(stereo), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(
            np.stack([np.concatenate([jfk.audio, np.zeros(len(pcm) - len(jfk.audio), np.int16)]), right], 1)
            .astype("<i2")
            .tobytes()
        )
    made["stereo"] = stereo
    return made


def speech_text() -> str:
    return corpora.JFK_TEXT + " " + corpora.librivox_clips()[0].text


@contextmanager
def openai_client(server: ServerProcess, api_key: str = "x") -> Iterator[OpenAI]:
    with OpenAI(base_url=server.http_url + "/v1", api_key=api_key, max_retries=0) as client:
        yield client


@contextmanager
def deepgram_client(server: ServerProcess, api_key: str = "x") -> Iterator[DeepgramClient]:
    environment = DeepgramClientEnvironment(
        base=server.http_url, production=server.ws_url, agent=server.ws_url, agent_rest=server.http_url
    )
    with httpx.Client(timeout=120) as http:
        yield DeepgramClient(api_key=api_key, environment=environment, httpx_client=http)


def post_listen(
    server: ServerProcess, body: bytes, headers: dict[str, str] | None = None, **params: str
) -> httpx.Response:
    return httpx.post(f"{server.http_url}/v1/listen", params=params, content=body, headers=headers, timeout=120)


def post_openai(
    server: ServerProcess,
    files: dict[str, tuple[str, bytes]] | None,
    data: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return httpx.post(
        f"{server.http_url}/v1/audio/transcriptions", files=files, data=data, headers=headers, timeout=120
    )
