"""redact= on uploads and on /v1/listen: a card number read out by real people never reaches a transcript."""

from __future__ import annotations

import io
import json
import wave

import numpy as np
import pytest

from streaming.spoken_numbers import find_runs
from testbed import audio, corpora
from testbed.server import ServerProcess, listen_url, stream
from tests.e2e.uploads import post_listen

pytestmark = pytest.mark.e2e


def said_digits(text: str) -> str:
    return "".join(run.text for run in find_runs(text.split()))


def card_call() -> np.ndarray:
    return np.concatenate([corpora.librivox_clips()[1].audio, audio.silence(0.8), corpora.spoken_card_number().audio])


def wav_bytes(pcm: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(pcm.astype("<i2").tobytes())
    return buffer.getvalue()


def test_an_upload_with_redact_pci_shows_no_card_digits_and_archives_silence(server: ServerProcess) -> None:
    body = wav_bytes(card_call())
    plain = post_listen(server, body)
    assert plain.status_code == 200, plain.text
    assert corpora.CARD_NUMBER in said_digits(plain.json()["results"]["channels"][0]["alternatives"][0]["transcript"])
    redacted = post_listen(server, body, redact="pci", redact_audio="true")
    assert redacted.status_code == 200, redacted.text
    alternative = redacted.json()["results"]["channels"][0]["alternatives"][0]
    assert "[PCI]" in alternative["transcript"] and said_digits(alternative["transcript"]) == ""
    assert said_digits(" ".join(w["punctuated_word"] for w in alternative["words"])) == ""
    request_id = redacted.json()["metadata"]["request_id"]
    [json_path] = server.archive_dir.glob(f"recordings/*/*/*/{request_id}.json")
    document = json.loads(json_path.read_text())
    assert said_digits(document["transcript"]) == ""
    with wave.open(str(json_path.with_suffix(".wav"))) as wav:
        stored = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    assert len(stored) == len(card_call())
    pci = [w for w in alternative["words"] if w["word"] == "[PCI]"]
    assert pci
    for word in pci:
        assert not stored[int(word["start"] * 16000) : int(word["end"] * 16000)].any()
    assert np.abs(stored[: 2 * 16000]).max() > 1000


def test_a_bad_redact_value_is_refused_in_words(server: ServerProcess) -> None:
    response = post_listen(server, wav_bytes(audio.silence(1.0)), redact="pii")
    assert response.status_code == 400 and "redact must be" in response.json()["err_msg"]


async def test_live_redact_numbers_on_listen(server: ServerProcess) -> None:
    received = await stream(
        listen_url(server.ws_url, redact="numbers", interim_results=True), audio.to_linear16(card_call()), pace_s=0.02
    )
    assert received.close_code == 1000, received.close_reason
    texts = [m["channel"]["alternatives"][0]["transcript"] for m in received.of_type("Results")]
    assert "[NUMBER]" in received.final_text() and said_digits(received.final_text()) == ""
    # An interim may show a number's first word or two before it is three digits long: never more.
    assert all(len(said_digits(text)) < 3 for text in texts), texts
