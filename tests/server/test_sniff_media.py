"""Type sniffing (libmagic) and decoding (PyAV) of uploaded files."""

from __future__ import annotations

import io
import struct
import subprocess
import wave
import zlib
from pathlib import Path

import numpy as np
import pytest

from server.uploads.decode import AudioDecoder, MediaError
from server.uploads.pipeline import UploadError, prepare
from server.uploads.sniff import SNIFF_BYTES, sniff


def wav_bytes(samples: np.ndarray, rate: int = 16000, channels: int = 1) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


def png_bytes() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 5)) + chunk(b"IEND", b"")
    )


def tone(seconds: float, rate: int = 16000, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * hz * t) * 8000).astype(np.int16)


def ffmpeg(source: Path, target: Path, *codec: str) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(source), *codec, str(target)], check=True)
    return target


@pytest.fixture(scope="module")
def stereo_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("media") / "stereo.wav"
    left, right = tone(3.0, 44100, 440), tone(3.0, 44100, 1000) // 2
    path.write_bytes(wav_bytes(np.stack([left, right], axis=1).reshape(-1), 44100, 2))
    return path


def test_sniff_names_what_the_bytes_are() -> None:
    wav = sniff(wav_bytes(tone(0.5)))
    assert wav.mime == "audio/x-wav" and wav.acceptable and wav.is_media
    png = sniff(png_bytes())
    assert png.mime == "image/png" and not png.acceptable
    assert "PNG image data" in png.summary()
    text = sniff(b"hello, this is a text file and not audio\n" * 20)
    assert text.mime.startswith("text/") and not text.acceptable
    empty = sniff(b"")
    assert not empty.acceptable
    unknown = sniff(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    assert unknown.is_unknown_binary and unknown.acceptable and not unknown.is_media
    assert len(sniff(b"x" * (SNIFF_BYTES * 2)).mime) > 0


def test_webm_is_sniffed_as_video_webm_and_decoded(stereo_wav: Path, tmp_path: Path) -> None:
    webm = ffmpeg(stereo_wav, tmp_path / "a.webm", "-c:a", "libopus")
    assert sniff(webm.read_bytes()[:SNIFF_BYTES]).mime == "video/webm"
    with webm.open("rb") as file, AudioDecoder(file, name="a.webm") as decoder:
        assert decoder.info.codec == "opus" and decoder.info.channels == 2 and decoder.channels == 1
        blocks = []
        while not decoder.finished:
            blocks.append(decoder.read(16000))
    audio = np.concatenate(blocks)
    assert audio.shape[1] == 1 and abs(len(audio) / 16000 - 3.0) < 0.05
    assert decoder.seconds == pytest.approx(len(audio) / 16000)


def test_channels_are_kept_for_multichannel(stereo_wav: Path) -> None:
    with stereo_wav.open("rb") as file, AudioDecoder(file, keep_channels=True) as decoder:
        audio = decoder.read(10**9)
        assert decoder.finished
    assert audio.shape == (48000, 2)
    # Left is the louder 440 Hz tone, right the quieter 1 kHz one.
    assert np.abs(audio[:, 0]).mean() > 1.5 * np.abs(audio[:, 1]).mean()


def test_truncated_webm_is_reported(stereo_wav: Path, tmp_path: Path) -> None:
    data = ffmpeg(stereo_wav, tmp_path / "b.webm", "-c:a", "libopus").read_bytes()
    with pytest.raises(MediaError, match=r"truncated or corrupt: its audio ends after 1\.\d s .* declares 3\.0 s"):
        decoder = AudioDecoder(io.BytesIO(data[: len(data) // 2]), name="b.webm")
        while not decoder.finished:
            decoder.read(16000)


def test_prepare_refuses_what_is_not_audio(tmp_path: Path) -> None:
    cases = {
        b"": ("empty_file", "is empty"),
        png_bytes(): ("unsupported_file_type", "image/png"),
        b"just some text\n" * 50: ("unsupported_file_type", "text/plain"),
        b"\x01\x02garbage" * 500: ("invalid_file", "not an audio or video file"),
    }
    for data, (code, message) in cases.items():
        with pytest.raises(UploadError) as caught:
            prepare(io.BytesIO(data), "upload.wav")
        assert (caught.value.status, caught.value.code) == (400, code)
        assert message in caught.value.message and "upload.wav" in caught.value.message


def test_header_only_wav_has_no_audio() -> None:
    prepared = prepare(io.BytesIO(wav_bytes(np.zeros(0, dtype=np.int16))), "empty.wav")
    with pytest.raises(MediaError, match="contains no audio samples"):
        prepared.decoder.read(16000)
    prepared.close()
