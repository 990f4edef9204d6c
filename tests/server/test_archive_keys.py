"""Key naming of the archive: only server-made parts (prefix, date, session id) ever reach a key or a path."""

from __future__ import annotations

import io
import wave
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from server.archive.base import index_key, recording_key, wav_header
from server.archive.s3 import S3Archive
from server.archive.s3_recording import S3Recording
from server.cli import build_parser, settings_from_args
from server.config import Settings, parse_archive_url
from server.metrics import Metrics
from streaming.protocol import ProtocolError, parse_listen_params

STARTED = datetime(2026, 3, 9, 23, 59, 59, tzinfo=UTC)
SESSION = "6f1c2b9e-54a3-4d51-9a1e-0c5d2f7e8a90"


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://calls", "calls", ""),
        ("s3://calls/", "calls", ""),
        ("s3://my.calls-2026/eu/prod", "my.calls-2026", "eu/prod/"),
        ("s3://calls//a//b/", "calls", "a/b/"),
    ],
)
def test_archive_url_gives_bucket_and_prefix(url: str, bucket: str, prefix: str) -> None:
    assert parse_archive_url(url) == (bucket, prefix)


@pytest.mark.parametrize(
    "url",
    [
        "calls/prefix",
        "http://calls/prefix",
        "s3://",
        "s3://Calls",
        "s3://ca",
        "s3://calls/../other-bucket",
        "s3://calls/a/./b",
        "s3://calls/a/%2e%2e",
        "s3://calls/pre fix",
        "s3://calls/prefix?x=1",
        "s3://calls..x/p",
    ],
)
def test_archive_url_refuses_anything_odd(url: str) -> None:
    with pytest.raises(ValueError):
        parse_archive_url(url)


def test_settings_check_the_archive_url_and_the_cli_sets_it() -> None:
    with pytest.raises(ValidationError, match="archive URL"):
        Settings(archive_url="/var/archive")
    args = build_parser().parse_args(["serve", "--archive", "s3://calls/eu", "--s3-path-style", "--spool-dir", "/sp"])
    settings = settings_from_args(args)
    assert (settings.archive_url, settings.s3_path_style, settings.spool_dir) == ("s3://calls/eu", True, Path("/sp"))
    assert settings_from_args(build_parser().parse_args(["gateway"])).archive_url is None


@pytest.mark.parametrize(
    "session_id",
    ["../../etc/passwd", "..", "a/b", "a\\b", "", ".hidden", "id with space", "id%2F..", "x" * 129, "abc\n"],
)
def test_keys_refuse_ids_that_are_not_plain(session_id: str) -> None:
    for make in (lambda: recording_key(session_id, STARTED, "wav"), lambda: index_key(session_id)):
        with pytest.raises(ValueError):
            make()


def test_key_layout_is_prefix_date_and_id() -> None:
    archive = S3Archive(Settings(archive_url="s3://calls/eu/prod"), Metrics())
    recording = S3Recording(archive, SESSION, STARTED, channels=2)
    assert recording.wav_key == f"eu/prod/recordings/2026/03/09/{SESSION}.wav"
    assert recording.json_key == f"eu/prod/recordings/2026/03/09/{SESSION}.json"
    assert recording.manifest("open")["index_key"] == f"eu/prod/index/{SESSION}.json"


def test_session_parameters_never_reach_a_key() -> None:
    """Whatever a client puts in the query string, the keys hold only the prefix, the date and the session id."""
    params = parse_listen_params(
        [
            ("model", "../../../etc/passwd"),
            ("keyterm", "../x"),
            ("keywords", "a/b:2"),
            ("tag", "..%2F.."),
            ("callback", "s3://other/bucket"),
            ("channels", "2"),
            ("multichannel", "true"),
        ]
    )
    assert params.model == "../../../etc/passwd"  # accepted (ignored), kept in the transcript document only
    archive = S3Archive(Settings(archive_url="s3://calls"), Metrics())
    recording = S3Recording(archive, SESSION, STARTED, channels=params.output_channels)
    manifest = recording.manifest("open")
    for key in (manifest["wav_key"], manifest["json_key"], manifest["index_key"]):
        assert ".." not in key and "etc" not in key and "other" not in key
        assert set(key) <= set("abcdefghijklmnopqrstuvwxyz0123456789-./")
    with pytest.raises(ProtocolError, match="language"):
        parse_listen_params([("language", "../../x")])


def test_archive_param_is_a_boolean() -> None:
    assert parse_listen_params([]).archive is True
    assert parse_listen_params([("archive", "false")]).archive is False
    assert parse_listen_params([("archive", "true")]).archive is True
    with pytest.raises(ProtocolError, match="archive"):
        parse_listen_params([("archive", "maybe")])


@pytest.mark.parametrize("channels", [1, 2, 8])
def test_wav_header_is_what_wave_reads(channels: int) -> None:
    data = bytes(range(256)) * 10 * channels
    with wave.open(io.BytesIO(wav_header(channels, len(data)) + data)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (channels, 2, 16000)
        assert wav.getnframes() == len(data) // (2 * channels)
        assert wav.readframes(wav.getnframes()) == data
