"""File uploads against the real server and model: the official OpenAI and Deepgram
SDKs unchanged, every common container made from real speech with Debian ffmpeg,
the archive, and `streamscribe transcribe`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import wave
from pathlib import Path

import openai
import pytest
from openai import OpenAI

from server.uploads.sniff import SNIFF_BYTES, sniff
from testbed import audio, corpora
from testbed.server import REPO_ROOT, ServerProcess
from tests.e2e.uploads import (
    CONTAINERS,
    JFK_WER_BOUND,
    WER_BOUND,
    deepgram_client,
    post_listen,
    post_openai,
    speech_text,
)

pytestmark = pytest.mark.e2e


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
