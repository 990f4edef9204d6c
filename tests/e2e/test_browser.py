"""The live-caption page and the browser client in real headless Chromium.

Debian's /usr/bin/chromium, driven by npm playwright-core (tests/e2e/browser/,
installed by scripts/test), gets a fake microphone that plays a WAV of real
speech once (--use-file-for-fake-audio-capture=FILE%noloop). The page is loaded
from the real server; tests/e2e/browser/caption.mjs clicks through it and
reports what the page showed, line by line; the assertions are made here.
Screenshots and the downloaded transcripts go to artifacts/browser/.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from testbed import audio, corpora
from testbed.server import REPO_ROOT, ServerProcess
from tests.e2e.conftest import TEST_API_KEY

pytestmark = pytest.mark.e2e

BROWSER_DIR = REPO_ROOT / "tests" / "e2e" / "browser"
ARTIFACTS = REPO_ROOT / "artifacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")

LIVE_WER_BOUND = 0.15
"""JFK through Chromium's capture path (48 kHz WAV -> fake microphone -> AudioWorklet -> 16 kHz) and tiny.en."""
RECONNECT_WER_BOUND = 0.3
"""Three LibriVox clips, one of them spoken while the server is down; tiny.en on these reaches about 0.1."""


@pytest.fixture(scope="module", autouse=True)
def browser_tools() -> None:
    missing = [
        what
        for what, present in [
            ("node", shutil.which("node") is not None),
            ("Debian chromium (/usr/bin/chromium)", CHROMIUM.exists()),
            ("npm playwright-core", (BROWSER_DIR / "node_modules" / "playwright-core").is_dir()),
        ]
        if not present
    ]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: scripts/test installs them (scripts/install-system-deps, npm ci)")


def write_speech_wav(path: Path, pcm: audio.Int16Array, rate: int = 48_000) -> float:
    """Write 16 kHz speech as a WAV at `rate` (as a microphone delivers it); returns its length in seconds."""
    audio.write_wav(path, audio.resample(pcm, audio.RATE, rate), rate=rate)
    return len(pcm) / audio.RATE


class BrowserRun:
    """caption.mjs in a subprocess: its JSON lines as they come, with a watchdog."""

    def __init__(self, config: dict[str, Any], timeout_s: float = 180.0) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        config = {"artifacts": str(ARTIFACTS), "chromium": str(CHROMIUM), **config}
        self.process = subprocess.Popen(
            ["node", str(BROWSER_DIR / "caption.mjs"), json.dumps(config)],
            cwd=BROWSER_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.watchdog = threading.Timer(timeout_s, self.process.kill)
        self.watchdog.start()
        self.events: list[dict[str, Any]] = []
        self.received_at: list[float] = []

    def lines(self) -> Iterator[dict[str, Any]]:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if not line.startswith("{"):
                continue
            event = json.loads(line)
            self.events.append(event)
            self.received_at.append(time.monotonic())
            yield event

    def result(self, on_event: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        try:
            for event in self.lines():
                if on_event is not None:
                    on_event(event)
            stderr = self.process.stderr.read() if self.process.stderr else ""
            code = self.process.wait()
        finally:
            self.watchdog.cancel()
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            for pipe in (self.process.stdout, self.process.stderr):
                if pipe is not None:
                    pipe.close()
        failures = [e for e in self.events if e["event"] == "failure"]
        assert not failures and code == 0, f"browser run failed ({code}): {failures}\n{stderr[-3000:]}"
        results = [e for e in self.events if e["event"] == "result"]
        assert len(results) == 1, self.events
        return results[0]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == kind]


def final_text(result: dict[str, Any]) -> str:
    return " ".join(f["text"] for f in result["finals"])


def assert_monotonic(finals: list[dict[str, Any]]) -> None:
    for before, after in itertools.pairwise(finals):
        assert before["start"] <= before["end"] <= after["start"] + 0.05, finals


# --------------------------------------------------------------------------- #
# Live captions
# --------------------------------------------------------------------------- #


def test_live_captions_from_a_microphone(server: ServerProcess, tmp_path: Path) -> None:
    clip = corpora.jfk()
    pcm = np.concatenate([audio.silence(1.0), clip.audio, audio.silence(2.5)])
    seconds = write_speech_wav(tmp_path / "jfk-48k.wav", pcm)
    run = BrowserRun(
        {
            "scenario": "live",
            "name": "live",
            "url": server.http_url + "/",
            "wav": str(tmp_path / "jfk-48k.wav"),
            "audioSeconds": seconds + 1.0,
            "timeoutS": 90,
        }
    )
    result = run.result()

    # the final captions are the speech
    error = audio.wer(clip.text, final_text(result))
    assert error <= LIVE_WER_BOUND, (error, final_text(result))
    assert_monotonic(result["finals"])
    # on the caller's clock: speech starts about 1 s into the file
    assert 0.3 <= result["finals"][0]["start"] <= 2.0, result["finals"]
    assert result["finals"][-1]["end"] <= seconds + 0.5

    # interims came first and looked provisional; finals settled in another style
    interims, finals = run.of("interim"), run.of("final")
    assert len(interims) >= 3, interims
    assert interims[0]["t"] < finals[0]["t"]
    assert all(i["style"]["fontStyle"] == "italic" for i in interims)
    assert all(f["style"]["fontStyle"] == "normal" for f in finals)
    # words of the first final were on screen as interim text before it settled
    first_words = audio.normalize_text(finals[0]["text"]).split()[:3]
    assert any(audio.normalize_text(i["text"]).split()[:3] == first_words for i in interims if i["t"] < finals[0]["t"])

    # the level meter moved, the page went Live and back to Ready without an error
    assert result["maxMeter"] >= 30, result["maxMeter"]
    statuses = [e["text"] for e in run.of("status")]
    assert "Live" in statuses and statuses[-1] == "Ready", statuses
    assert result["alert"] == ""

    # the downloads hold the same transcript
    text = Path(result["downloads"]["txt"]).read_text()
    assert audio.wer(clip.text, text) == pytest.approx(error)
    srt = Path(result["downloads"]["srt"]).read_text()
    assert srt.startswith("1\n00:00:0") and " --> " in srt
    vtt = Path(result["downloads"]["vtt"]).read_text()
    assert vtt.startswith("WEBVTT\n\n00:00:0")
    for name in ("live-live.png", "live-done.png", "live-phone-dark.png"):
        assert (ARTIFACTS / name).stat().st_size > 10_000


def test_reconnect_keeps_words_spoken_while_the_server_is_down(tmp_path: Path) -> None:
    """SIGKILL the server after the first final, bring it back on the same port only
    after the second utterance has been spoken: the client buffers the gap, reconnects
    with backoff and the second utterance still becomes a final caption."""
    clips = corpora.librivox_clips()
    a, b, c = clips[1], clips[2], clips[4]
    pcm, utterances = audio.conversation([a, b, c], gap_s=4.0, lead_s=1.0, tail_s=3.0)
    seconds = write_speech_wav(tmp_path / "three-48k.wav", pcm)
    env = {"STREAMSCRIBE_API_KEYS": TEST_API_KEY}
    first = ServerProcess(archive_dir=tmp_path / "one" / "archive", env=env).start()
    second = ServerProcess(archive_dir=tmp_path / "two" / "archive", env=env, port=first.port)
    timeline: dict[str, float] = {}

    def on_event(event: dict[str, Any]) -> None:
        now = time.monotonic()
        if event["event"] == "live":
            timeline["clicked"] = now - event["t"]
        if event["event"] == "final" and "killed" not in timeline:
            assert first.process is not None
            first.process.kill()  # no goodbye: the socket just dies, finals in flight are lost
            first.process.wait()
            timeline["killed"] = now - timeline["clicked"]
            # stay down until the second utterance has been spoken completely
            resume = timeline["clicked"] + utterances[1].end + 1.0
            time.sleep(max(0.0, resume - time.monotonic()))
            timeline["restarting"] = time.monotonic() - timeline["clicked"]
            second.start()

    try:
        run = BrowserRun(
            {
                "scenario": "live",
                "name": "reconnect",
                "url": first.http_url + "/",
                "apiKey": TEST_API_KEY,
                "wav": str(tmp_path / "three-48k.wav"),
                "audioSeconds": seconds + 1.0,
                "expectReconnect": True,
                "timeoutS": 120,
            }
        )
        result = run.result(on_event)
    finally:
        first.stop()
        second.stop()

    # the kill happened before the second utterance began, the restart after it ended
    assert timeline["killed"] < utterances[1].start, (timeline, utterances)
    assert timeline["restarting"] > utterances[1].end, (timeline, utterances)

    statuses = [e["text"] for e in run.of("status")]
    assert "Reconnecting…" in statuses, statuses
    assert statuses[statuses.index("Reconnecting…") :].count("Live") >= 1, statuses
    reconnected = [e for e in run.of("alert") if e["text"].startswith("Reconnected")]
    assert reconnected, run.of("alert")

    finals = result["finals"]
    assert_monotonic(finals)
    reference = " ".join(u.text for u in utterances)
    error = audio.wer(reference, final_text(result))
    assert error <= RECONNECT_WER_BOUND, (error, final_text(result))

    # the second utterance reached final captions, over the new connection, at its own place on the clock
    b_words = set(audio.normalize_text(b.text).split())
    late = [f for f in run.of("final") if f["t"] > reconnected[0]["t"]]
    late_words = set(audio.normalize_text(" ".join(f["text"] for f in late)).split())
    assert len(b_words & late_words) >= 0.7 * len(b_words), (b.text, late)
    only_b = b_words - set(audio.normalize_text(a.text + " " + c.text).split())
    b_finals = [f for f in finals if len(set(audio.normalize_text(f["text"]).split()) & only_b) >= 2]
    assert b_finals, finals
    shift = finals[0]["start"] - utterances[0].start  # capture started a little after the file did
    assert abs(b_finals[0]["start"] - shift - utterances[1].start) < 1.0, (b_finals, utterances, shift)
    for name in ("reconnect-reconnecting.png", "reconnect-done.png"):
        assert (ARTIFACTS / name).stat().st_size > 10_000


def test_client_embedded_in_a_page_of_another_origin(server: ServerProcess, tmp_path: Path) -> None:
    """A page on http://localhost:OTHER imports the client from the server: the module, the
    worklet and pcm.js load cross-origin (CORS, JavaScript MIME type) and captions flow."""
    clip = corpora.librivox_clips()[1]
    pcm = np.concatenate([audio.silence(0.5), clip.audio, audio.silence(2.0)])
    seconds = write_speech_wav(tmp_path / "embed-48k.wav", pcm)
    result = BrowserRun(
        {
            "scenario": "embed",
            "name": "embed",
            "url": server.http_url + "/",
            "wav": str(tmp_path / "embed-48k.wav"),
            "audioSeconds": seconds + 1.0,
        }
    ).result()
    assert result["origin"].startswith("http://localhost:") and result["origin"] != server.http_url
    assert result["error"] == "", result
    assert result["state"] == "closed"
    assert audio.wer(clip.text, " ".join(result["finals"])) <= RECONNECT_WER_BOUND, result["finals"]
    # (the worklet's own fetch is not visible to the page's network events; that it
    # loaded cross-origin shows in the captions: it is the only way audio reaches the server)
    assert {"/client/streamscribe.js", "/client/pcm.js"} <= set(result["responses"]), result["responses"]
    for path, response in result["responses"].items():
        assert response["status"] == 200, (path, response)
        assert response["contentType"] == "text/javascript; charset=utf-8", (path, response)
        assert response["allowOrigin"] == "*", (path, response)


# --------------------------------------------------------------------------- #
# Messages
# --------------------------------------------------------------------------- #


def alert_run(server: ServerProcess, tmp_path: Path, name: str, **options: object) -> dict[str, Any]:
    """Open the page against `server` with a second of silence as the microphone and
    return what its alert says."""
    write_speech_wav(tmp_path / "quiet.wav", audio.silence(1.0))
    spec = {"scenario": "alert", "name": name, "url": server.http_url + "/", "wav": str(tmp_path / "quiet.wav")}
    return BrowserRun({**spec, **options}).result()


def test_denied_microphone_is_explained(server: ServerProcess, tmp_path: Path) -> None:
    # no --use-fake-ui-for-media-stream: the permission prompt is dismissed, as a user blocking it
    result = alert_run(server, tmp_path, "denied", denyMicrophone=True)
    assert result["alert"].startswith("Microphone access is blocked."), result["alert"]
    assert "allow the microphone" in result["alert"].lower()
    assert result["status"] == "Error"
    assert "Start captions" in result["toggle"]


def test_wrong_api_key_is_explained(strict_server: ServerProcess, tmp_path: Path) -> None:
    result = alert_run(strict_server, tmp_path, "wrong-key", apiKey="not-the-key")
    assert result["alert"].startswith("Cannot connect to the caption server."), result["alert"]
    assert "API key" in result["alert"]
    assert result["status"] == "Error"


def test_missing_api_key_opens_the_settings(strict_server: ServerProcess, tmp_path: Path) -> None:
    result = alert_run(strict_server, tmp_path, "no-key")
    assert "If it requires an API key, enter it in Connection settings." in result["alert"], result["alert"]
    assert result["settingsOpen"] is True


def test_server_refusal_shows_the_servers_reason(server: ServerProcess, tmp_path: Path) -> None:
    result = alert_run(server, tmp_path, "refused", language="e!")
    # the server closes with 1008 and a reason naming the parameter; the page shows both
    assert result["alert"].startswith("The server stopped the captions:"), result["alert"]
    assert "language" in result["alert"] and "(code 1008)" in result["alert"], result["alert"]
    assert result["status"] == "Error"


# --------------------------------------------------------------------------- #
# Upload box
# --------------------------------------------------------------------------- #


def test_upload_box_transcribes_a_file(server: ServerProcess, tmp_path: Path) -> None:
    clip = corpora.jfk()
    path = tmp_path / "jfk.wav"
    audio.write_wav(path, np.concatenate([audio.silence(0.5), clip.audio, audio.silence(0.5)]))
    config = {"scenario": "upload", "name": "upload", "url": server.http_url + "/", "file": str(path)}
    result = BrowserRun(config).result()
    assert result["message"] == "", result["message"]
    assert audio.wer(clip.text, " ".join(result["segments"])) <= LIVE_WER_BOUND, result["segments"]


def test_upload_box_without_the_endpoint_says_so(server: ServerProcess, tmp_path: Path) -> None:
    path = tmp_path / "short.wav"
    audio.write_wav(path, audio.silence(0.5))
    result = BrowserRun(
        {"scenario": "upload", "name": "upload-404", "url": server.http_url + "/", "file": str(path), "route404": True}
    ).result()
    assert result["message"].startswith("File transcription is not available on this server yet."), result
    assert result["messageKind"] == "info"
    assert result["segments"] == []
