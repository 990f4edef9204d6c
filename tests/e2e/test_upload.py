"""File uploads against the real server and model: the official OpenAI and Deepgram
SDKs unchanged, every common container made from real speech with Debian ffmpeg,
and bad inputs answered with 4xx errors that say what was wrong."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from deepgram import DeepgramClient
from deepgram.environment import DeepgramClientEnvironment
from openai import OpenAI

from server.uploads.sniff import SNIFF_BYTES, sniff
from testbed import audio, corpora
from testbed.server import REPO_ROOT, ServerProcess
from tests.e2e.conftest import STRICT_MAX_UPLOAD_BYTES, TEST_API_KEY

pytestmark = pytest.mark.e2e

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


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real speech (JFK, then a LibriVox clip) in every container, plus JFK alone and bad inputs."""
    root = tmp_path_factory.mktemp("uploads")
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


@pytest.fixture(scope="module")
def oai(server: ServerProcess) -> Iterator[OpenAI]:
    with openai_client(server) as client:
        yield client


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


# -- OpenAI SDK ------------------------------------------------------------------------------


def test_openai_sdk_transcribes_in_every_response_format(oai: OpenAI, files: dict[str, Path]) -> None:
    client = oai
    path = files["jfk"]

    with path.open("rb") as f:
        plain = client.audio.transcriptions.create(file=f, model="whisper-1")
    assert audio.wer(corpora.JFK_TEXT, plain.text) <= JFK_WER_BOUND, plain.text
    assert plain.usage is not None and plain.usage.type == "duration" and plain.usage.seconds == 11

    with path.open("rb") as f:
        text = client.audio.transcriptions.create(file=f, model="whisper-1", response_format="text")
    assert isinstance(text, str) and text.strip() == plain.text

    with path.open("rb") as f:
        srt = client.audio.transcriptions.create(file=f, model="whisper-1", response_format="srt")
    cues = re.findall(r"(\d+)\n(\d\d:\d\d:\d\d,\d{3}) --> (\d\d:\d\d:\d\d,\d{3})\n(.+?)\n(?:\n|$)", srt, re.S)
    assert [int(c[0]) for c in cues] == list(range(1, len(cues) + 1)) and cues
    assert all(start < end for _, start, end, _ in cues) and cues[-1][2] <= "00:00:11,000"
    assert audio.wer(corpora.JFK_TEXT, " ".join(c[3] for c in cues)) <= JFK_WER_BOUND

    with path.open("rb") as f:
        vtt = client.audio.transcriptions.create(file=f, model="whisper-1", response_format="vtt")
    assert vtt.startswith("WEBVTT\n\n")
    vtt_cues = re.findall(r"(\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})\n(.+?)\n", vtt)
    assert len(vtt_cues) == len(cues) and audio.wer(corpora.JFK_TEXT, " ".join(c[2] for c in vtt_cues)) <= 0.15

    with path.open("rb") as f:
        verbose = client.audio.transcriptions.create(
            file=f,
            model="whisper-1",
            response_format="verbose_json",
            timestamp_granularities=["word", "segment"],
            language="en",
            prompt="JFK inaugural address.",
            temperature=0.0,
        )
    assert verbose.language == "english" and verbose.duration == pytest.approx(11.0, abs=0.05)
    assert audio.wer(corpora.JFK_TEXT, verbose.text) <= JFK_WER_BOUND
    assert verbose.words and verbose.segments
    assert [w.word for w in verbose.words][:3] == ["And", "so", "my"]
    assert all(0 <= w.start <= w.end <= 11.0 for w in verbose.words)
    assert " ".join(s.text.strip() for s in verbose.segments) == verbose.text


def test_openai_sdk_streams_text_deltas(oai: OpenAI, files: dict[str, Path]) -> None:
    with files["long"].open("rb") as f:
        events = list(oai.audio.transcriptions.create(file=f, model="whisper-1", stream=True))
    deltas = [e for e in events if e.type == "transcript.text.delta"]
    assert len(deltas) >= 2, "a file longer than one segment streams more than one delta"
    assert events[-1].type == "transcript.text.done" and len(events) == len(deltas) + 1
    done = events[-1].text
    assert "".join(d.delta for d in deltas) == done
    reference = " ".join([corpora.JFK_TEXT, *(c.text for c in corpora.librivox_clips()), corpora.JFK_TEXT])
    assert audio.wer(reference, done) <= WER_BOUND, done


def test_openai_sdk_gets_bad_request_for_a_file_that_is_not_audio(oai: OpenAI, files: dict[str, Path]) -> None:
    with pytest.raises(openai.BadRequestError) as caught, files["text"].open("rb") as f:
        oai.audio.transcriptions.create(file=f, model="whisper-1")
    error = caught.value
    assert error.status_code == 400
    assert "notes.txt" in error.message and "is text/plain" in error.message and "not audio" in error.message
    assert isinstance(error.body, dict) and error.body["param"] == "file" and error.body["code"]


def test_openai_sdk_lists_the_loaded_model(oai: OpenAI) -> None:
    assert [model.id for model in oai.models.list()] == ["tiny.en"]


# -- Deepgram SDK --------------------------------------------------------------------------


def test_deepgram_sdk_transcribes_a_file(server: ServerProcess, files: dict[str, Path]) -> None:
    with deepgram_client(server) as client:
        response = client.listen.v1.media.transcribe_file(
            request=files["jfk"].read_bytes(), model="nova-3", smart_format=True, punctuate=True, utterances=True
        )
    assert response.metadata.duration == pytest.approx(11.0, abs=0.05)
    assert response.metadata.channels == 1
    assert response.metadata.model_info[response.metadata.models[0]]["name"] == "tiny.en"
    alternative = response.results.channels[0].alternatives[0]
    assert audio.wer(corpora.JFK_TEXT, alternative.transcript or "") <= JFK_WER_BOUND
    words = alternative.words or []
    assert words and all(w.start <= w.end for w in words) and words[0].word == "and"
    utterances = response.results.utterances or []
    assert utterances and " ".join(u.transcript or "" for u in utterances) == alternative.transcript


def test_deepgram_multichannel_transcribes_each_channel(server: ServerProcess, files: dict[str, Path]) -> None:
    response = post_listen(server, files["stereo"].read_bytes(), multichannel="true")
    assert response.status_code == 200, response.text
    channels = response.json()["results"]["channels"]
    assert len(channels) == 2
    left, right = (c["alternatives"][0]["transcript"] for c in channels)
    assert audio.wer(corpora.JFK_TEXT, left) <= WER_BOUND, left
    assert audio.wer(corpora.librivox_clips()[0].text, right) <= WER_BOUND, right


# -- containers ----------------------------------------------------------------------------


@pytest.mark.parametrize("ext", list(CONTAINERS))
def test_every_container_is_detected_and_transcribed(server: ServerProcess, files: dict[str, Path], ext: str) -> None:
    data = files[ext].read_bytes()
    assert sniff(data[:SNIFF_BYTES]).mime == CONTAINERS[ext][1]
    response = post_listen(server, data, headers={"content-type": "application/octet-stream"})
    assert response.status_code == 200, response.text
    body = response.json()
    transcript = body["results"]["channels"][0]["alternatives"][0]["transcript"]
    assert audio.wer(speech_text(), transcript) <= WER_BOUND, f"{ext}: {transcript}"
    source_seconds = corpora.jfk().duration + corpora.librivox_clips()[0].duration + 2.0
    assert body["metadata"]["duration"] == pytest.approx(source_seconds, abs=0.1)


def test_upload_is_archived_like_a_live_session(server: ServerProcess, files: dict[str, Path]) -> None:
    response = post_listen(server, files["jfk.wav"].read_bytes())
    body = response.json()
    request_id = body["metadata"]["request_id"]
    assert body["metadata"]["archive"]["stored"] is True
    [json_path] = server.archive_dir.glob(f"recordings/*/*/*/{request_id}.json")
    document = json.loads(json_path.read_text())
    assert document["source"] == "upload" and document["params"]["mime"] == "audio/x-wav"
    assert document["transcript"] == body["results"]["channels"][0]["alternatives"][0]["transcript"]
    with wave.open(str(json_path.with_suffix(".wav"))) as wav:
        assert wav.getframerate() == 16000 and wav.getnframes() == len(corpora.jfk().audio)


def test_silent_file_gives_an_empty_transcript(server: ServerProcess, files: dict[str, Path]) -> None:
    response = post_listen(server, files["silence"].read_bytes())
    assert response.status_code == 200
    assert response.json()["results"]["channels"][0]["alternatives"][0] == {
        "transcript": "",
        "confidence": 0.0,
        "words": [],
    }
    text = post_openai(server, {"file": ("silence.wav", files["silence"].read_bytes())}, {"model": "whisper-1"})
    assert text.status_code == 200 and text.json()["text"] == ""


# -- bad inputs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "params", "status", "code", "words"),
    [
        ("empty", {}, 400, "EMPTY_BODY", ["empty"]),
        ("text", {}, 400, "UNSUPPORTED_FILE_TYPE", ["text/plain", "not audio"]),
        ("png", {}, 400, "UNSUPPORTED_FILE_TYPE", ["image/png", "not audio"]),
        ("truncated", {}, 400, "INVALID_FILE", ["truncated"]),
        ("jfk", {"language": "not a language!"}, 400, "INVALID_QUERY_PARAMETER", ["language"]),
        ("jfk", {"utterances": "maybe"}, 400, "INVALID_VALUE", ["utterances"]),
    ],
)
def test_deepgram_route_refuses_bad_input(
    server: ServerProcess,
    files: dict[str, Path],
    name: str,
    params: dict[str, str],
    status: int,
    code: str,
    words: list[str],
) -> None:
    response = post_listen(server, files[name].read_bytes(), **params)
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"err_code", "err_msg", "request_id"} and body["err_code"] == code
    assert all(word in body["err_msg"] for word in words), body["err_msg"]


def test_deepgram_route_explains_multipart_and_url_requests(server: ServerProcess, files: dict[str, Path]) -> None:
    multipart = httpx.post(f"{server.http_url}/v1/listen", files={"file": ("a.ogg", files["jfk"].read_bytes())})
    assert multipart.status_code == 400 and "/v1/audio/transcriptions" in multipart.json()["err_msg"]
    by_url = httpx.post(f"{server.http_url}/v1/listen", json={"url": "https://example.com/a.wav"})
    assert by_url.status_code == 400 and "URL" in by_url.json()["err_msg"]


@pytest.mark.parametrize(
    ("upload", "data", "param", "words"),
    [
        (("empty.wav", "empty"), {"model": "whisper-1"}, "file", ["empty", "0 bytes"]),
        (("picture.wav", "png"), {"model": "whisper-1"}, "file", ["picture.wav", "image/png"]),
        (("cut.webm", "truncated"), {"model": "whisper-1"}, "file", ["cut.webm", "truncated"]),
        (("a.ogg", "jfk"), {}, "model", ["model"]),
        (("a.ogg", "jfk"), {"model": "whisper-1", "response_format": "docx"}, "response_format", ["docx"]),
        (("a.ogg", "jfk"), {"model": "whisper-1", "temperature": "7"}, "temperature", ["temperature"]),
        (("a.ogg", "jfk"), {"model": "whisper-1", "speed": "2"}, "speed", ["Unrecognized", "speed"]),
        (
            ("a.ogg", "jfk"),
            {"model": "whisper-1", "stream": "true", "response_format": "srt"},
            "response_format",
            ["stream"],
        ),
    ],
)
def test_openai_route_refuses_bad_input(
    server: ServerProcess,
    files: dict[str, Path],
    upload: tuple[str, str],
    data: dict[str, str],
    param: str | None,
    words: list[str],
) -> None:
    filename, key = upload
    response = post_openai(server, {"file": (filename, files[key].read_bytes())}, data)
    assert response.status_code == 400
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert all(word in error["message"] for word in words), error["message"]


def test_openai_route_names_wrong_field_names(server: ServerProcess, files: dict[str, Path]) -> None:
    wrong = post_openai(server, {"audio": ("a.ogg", files["jfk"].read_bytes())}, {"model": "whisper-1"})
    assert wrong.status_code == 400
    message = wrong.json()["error"]["message"]
    assert "'file'" in message and "audio" in message
    not_multipart = httpx.post(f"{server.http_url}/v1/audio/transcriptions", json={"file": "a.ogg"})
    assert not_multipart.status_code == 400 and "multipart/form-data" in not_multipart.json()["error"]["message"]
    as_text = post_openai(server, {"file": (None, b"not a file"), "model": (None, b"whisper-1")})
    assert as_text.status_code == 400 and as_text.json()["error"]["param"] == "file"


def test_strict_server_limits_size_and_checks_keys(strict_server: ServerProcess, files: dict[str, Path]) -> None:
    small = files["jfk"].read_bytes()
    big = files["jfk.wav"].read_bytes()
    assert len(small) < STRICT_MAX_UPLOAD_BYTES < len(big)
    auth = {"authorization": f"Token {TEST_API_KEY}"}

    refused = post_listen(strict_server, small)
    assert refused.status_code == 401 and refused.json()["err_code"] == "INVALID_AUTH"
    with (
        pytest.raises(openai.AuthenticationError),
        files["jfk"].open("rb") as f,
        openai_client(strict_server, api_key="wrong") as wrong_key,
    ):
        wrong_key.audio.transcriptions.create(file=f, model="whisper-1")

    too_big = post_listen(strict_server, big, headers=auth)
    assert too_big.status_code == 413
    assert str(STRICT_MAX_UPLOAD_BYTES) in too_big.json()["err_msg"] and "max_upload_bytes" in too_big.json()["err_msg"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is enforced while reading
        for offset in range(0, len(big), 32768):
            yield big[offset : offset + 32768]

    chunked = httpx.post(f"{strict_server.http_url}/v1/listen", content=chunks(), headers=auth, timeout=60)
    assert chunked.status_code == 413

    too_big_form = post_openai(
        strict_server, {"file": ("big.wav", big)}, {"model": "whisper-1"}, {"authorization": f"Bearer {TEST_API_KEY}"}
    )
    assert too_big_form.status_code == 413 and too_big_form.json()["error"]["code"] == "file_too_large"

    with files["jfk"].open("rb") as f, openai_client(strict_server, api_key=TEST_API_KEY) as client:
        result = client.audio.transcriptions.create(file=f, model="whisper-1")
    assert audio.wer(corpora.JFK_TEXT, result.text) <= JFK_WER_BOUND
    accepted = post_listen(strict_server, small, headers=auth)
    assert accepted.status_code == 200
    archive = accepted.json()["metadata"]["archive"]
    assert archive["stored"] is False and "archive-is-a-file" in archive["error"]


# -- streamscribe transcribe ---------------------------------------------------------------


def test_cli_transcribes_a_file_without_a_server(files: dict[str, Path]) -> None:
    command = [sys.executable, "-m", "server.cli", "transcribe", "--no-archive", "--log-level", "warning"]
    done = subprocess.run(
        [*command, str(files["mp3"]), "--format", "srt"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    cue_text = [line for line in done.stdout.splitlines() if line and not line.isdigit() and "-->" not in line]
    assert re.match(r"1\n00:00:0\d,\d{3} --> ", done.stdout)
    assert audio.wer(speech_text(), " ".join(cue_text)) <= WER_BOUND
    refused = subprocess.run([*command, str(files["png"])], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "image/png" in refused.stderr and refused.stdout == ""


def test_upload_with_archive_false_is_not_stored(server: ServerProcess, files: dict[str, Path]) -> None:
    response = post_listen(server, files["jfk.wav"].read_bytes(), archive="false")
    assert response.status_code == 200
    body = response.json()
    assert body["metadata"]["archive"]["stored"] is False
    assert "archive=false" in body["metadata"]["archive"]["error"]
    assert not list(server.archive_dir.glob(f"recordings/*/*/*/{body['metadata']['request_id']}.*"))
    assert body["results"]["channels"][0]["alternatives"][0]["transcript"]
