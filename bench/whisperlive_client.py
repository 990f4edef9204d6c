"""WhisperLive (PyPI `whisper-live`) for bench/first_text.py: its own venv, its server, its wire format.

The venv is `artifacts/whisperlive-venv`, made on first use and never `.venv`: whisper-live pins
faster-whisper 1.2.0, tokenizers 0.20.3 and pulls torch, openvino and openai-whisper (about 8 GB).
Everything it declares is installed except PyAudio, which only its microphone client imports and
which does not build without the portaudio headers; the server does not need it.

The server is started like the `run_server.py` of its repository (not shipped in the wheel) at its
defaults: faster_whisper backend, the custom model given as a path (one model shared by every
connection, `single_model`), `OMP_NUM_THREADS=1` unless set. The client side of the protocol
(`whisper_live/client.py`, `server.py`): a JSON options message first, then binary frames of float32
PCM at 16 kHz, then the bytes `END_OF_AUDIO`; the server answers `{"uid", "message": "SERVER_READY"}`
once the model is loaded, then `{"uid", "segments": [{"start", "end", "text", "completed"}, ...]}`
(the last `send_last_n_segments` completed ones plus the open one, times as strings).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from testbed.server import REPO_ROOT, free_port, stop_process

VERSION = "0.10.0"
VENV = REPO_ROOT / "artifacts" / "whisperlive-venv"
SKIPPED_REQUIREMENTS = ("pyaudio",)
END_OF_AUDIO = b"END_OF_AUDIO"

_SERVER = """
import os, sys
os.environ.setdefault("OMP_NUM_THREADS", sys.argv[4])
from whisper_live.server import TranscriptionServer
TranscriptionServer().run(
    "127.0.0.1", port=int(sys.argv[1]), backend="faster_whisper", faster_whisper_custom_model_path=sys.argv[2],
    single_model=True, max_clients=int(sys.argv[3]), max_connection_time=600,
)
"""

Segment = tuple[float, float, str]
"""(start s, end s, text) on the stream's clock."""


def packaged_tiny_en() -> Path:
    """The CTranslate2 tiny.en directory streamscribe serves by default, for WhisperLive to load too."""
    from server.config import Settings
    from server.transcribe.model_files import resolve_model

    return Path(resolve_model("tiny.en", Settings().model_cache_dir).path)


def venv_python() -> Path:
    return VENV / "bin" / "python"


def _installed() -> bool:
    if not venv_python().exists():
        return False
    check = f"import importlib.metadata as m, whisper_live.server; assert m.version('whisper-live') == {VERSION!r}"
    return subprocess.run([str(venv_python()), "-c", check], capture_output=True).returncode == 0


def ensure_installed() -> Path:
    """Install whisper-live into its own venv unless it is there; returns the venv's python."""
    if _installed():
        return venv_python()
    print(
        f"whisper-live {VERSION} is not in {VENV}: installing it there (torch, openvino, ... about 8 GB, "
        "a few minutes; .venv is not touched)",
        flush=True,
    )
    if not venv_python().exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(venv_python()), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--no-deps", f"whisper-live=={VERSION}"], check=True)
    listing = "import importlib.metadata as m; print('\\n'.join(m.requires('whisper-live') or []))"
    declared = subprocess.run([str(venv_python()), "-c", listing], check=True, capture_output=True, text=True)
    wanted = [r for r in declared.stdout.splitlines() if r and not r.lower().startswith(SKIPPED_REQUIREMENTS)]
    subprocess.run([*pip, *wanted], check=True)
    if not _installed():
        raise RuntimeError(f"whisper-live {VERSION} still does not import from {VENV}")
    return venv_python()


@dataclass
class WhisperLiveServer:
    """The WhisperLive WebSocket server in a child process of its own venv."""

    model_path: Path
    log_path: Path
    max_clients: int = 4
    omp_threads: int = 1
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 120.0) -> WhisperLiveServer:
        python = ensure_installed()
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        args = [str(self.port), str(self.model_path), str(max(4, self.max_clients)), str(self.omp_threads)]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [str(python), "-c", _SERVER, *args], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"WhisperLive exited with {self.process.returncode}:\n{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"WhisperLive not listening after {timeout_s} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        stop_process(self.process, 15.0)


def options(model: str) -> str:
    """The first message, with the defaults of whisper-live's own `Client` (VAD on, 10 segments)."""
    return json.dumps(
        {
            "uid": str(uuid.uuid4()),
            "language": "en",
            "task": "transcribe",
            "model": model,
            "use_vad": True,
            "send_last_n_segments": 10,
            "no_speech_thresh": 0.45,
            "clip_audio": False,
            "same_output_threshold": 10,
            "enable_translation": False,
            "word_timestamps": False,
        }
    )


def frame(pcm16: bytes) -> bytes:
    """16 kHz int16 little-endian PCM as the float32 frames the server reads by default."""
    return (np.frombuffer(pcm16, dtype="<i2").astype(np.float32) / 32768.0).tobytes()


def is_ready(message: dict[str, Any]) -> bool:
    if message.get("status") in ("WAIT", "ERROR"):
        raise RuntimeError(f"WhisperLive refused the stream: {message}")
    return message.get("message") == "SERVER_READY"


def segments(message: dict[str, Any]) -> tuple[list[Segment], Segment | None] | None:
    """(completed segments, the open one or None) of a transcript message; None for other messages."""
    if "segments" not in message:
        return None
    items = [
        (float(s["start"]), float(s["end"]), str(s["text"]), bool(s.get("completed"))) for s in message["segments"]
    ]
    completed = [(start, end, text) for start, end, text, done in items if done]
    open_ones = [(start, end, text) for start, end, text, done in items[-1:] if not done]
    return completed, (open_ones[0] if open_ones else None)
