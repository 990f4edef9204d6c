"""`streamscribe serve|models|stream`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

from server.config import Settings
from server.models import ModelError, list_models, resolve_model

# Flags of `serve` that map one-to-one onto Settings fields (and so onto STREAMSCRIBE_* variables).
SERVE_FLAGS: list[tuple[str, type, str]] = [
    ("host", str, "interface to listen on"),
    ("port", int, "TCP port"),
    ("model", str, "tiny.en, base, or a CTranslate2 Whisper directory"),
    ("compute-type", str, "CTranslate2 compute type: int8, int8_float32, float32, ..."),
    ("workers", int, "concurrent Whisper calls"),
    ("cpu-threads", int, "threads per Whisper call (0: CPU count / workers)"),
    ("archive-dir", Path, "directory for recordings and transcripts"),
    ("spool-dir", Path, "S3 archive: where recordings wait while the store is unreachable"),
    ("s3-endpoint-url", str, "S3 archive: endpoint of an S3-compatible store (MinIO, SeaweedFS, ...)"),
    ("s3-region", str, "S3 archive: region (default: AWS_REGION, else us-east-1)"),
    ("endpointing-ms", int, "default silence that ends an utterance, in ms"),
    ("max-sessions", int, "concurrent live sessions before refusing with 1013"),
    ("api-keys", str, "comma-separated API keys; none: no authentication"),
    ("redis-url", str, "distributed mode: redis://host:port/db carrying jobs and results"),
    ("log-level", str, "debug, info, warning or error"),
]


def _add_serve_flags(parser: argparse.ArgumentParser) -> None:
    for flag, kind, help_text in SERVE_FLAGS:
        env = "STREAMSCRIBE_" + flag.upper().replace("-", "_")
        parser.add_argument(f"--{flag}", type=kind, default=None, help=f"{help_text} [{env}]")
    parser.add_argument(
        "--no-archive", action="store_true", default=None, help="do not archive sessions [STREAMSCRIBE_ARCHIVE=false]"
    )
    parser.add_argument(
        "--archive",
        dest="archive_url",
        metavar="s3://BUCKET/PREFIX",
        help="archive to S3 or an S3-compatible store instead of --archive-dir [STREAMSCRIBE_ARCHIVE_URL]",
    )
    parser.add_argument(
        "--s3-path-style",
        action="store_true",
        default=None,
        help="S3 archive: path-style addressing [STREAMSCRIBE_S3_PATH_STYLE]",
    )


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for flag, _kind, _help in SERVE_FLAGS:
        field = flag.replace("-", "_")
        value = getattr(args, field, None)
        if value is not None:
            overrides[field] = value
    if getattr(args, "no_archive", None):
        overrides["archive"] = False
    if getattr(args, "archive_url", None):
        overrides["archive_url"] = args.archive_url
    if getattr(args, "s3_path_style", None):
        overrides["s3_path_style"] = True
    for field in ("gateway_id", "worker_id"):
        if getattr(args, field, None):
            overrides[field] = getattr(args, field)
    return Settings(**overrides)


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # faster-whisper logs every call at INFO; our metrics say the same in aggregate.
    logging.getLogger("faster_whisper").setLevel(max(logging.WARNING, logging.getLogger().level))


def _check_model(settings: Settings) -> bool:
    try:
        model = resolve_model(settings.model, settings.model_cache_dir)
    except ModelError as error:
        print(f"streamscribe: {error}", file=sys.stderr)
        return False
    print(f"streamscribe: model {model.name} from {model.path}", file=sys.stderr)
    return True


def cmd_serve(args: argparse.Namespace) -> int:
    """Embedded mode; with --redis-url, a gateway plus in-process workers on that Redis."""
    from server.app import create_app, embedded_runtime
    from server.serving import serve

    settings = settings_from_args(args)
    _configure_logging(settings)
    if not _check_model(settings):
        return 2
    if settings.redis_url:
        from server.distributed import redis_gateway_runtime

        runtime = redis_gateway_runtime(settings, with_workers=True)
    else:
        runtime = embedded_runtime(settings)
    serve(create_app(settings, runtime), settings)
    return 0


def _require_redis(settings: Settings, command: str) -> bool:
    if not settings.redis_url:
        print(f"streamscribe {command}: needs --redis-url or STREAMSCRIBE_REDIS_URL", file=sys.stderr)
        return False
    return True


def cmd_gateway(args: argparse.Namespace) -> int:
    """Distributed mode: accept sessions, segment audio, queue jobs in Redis; no model in this process."""
    from server.app import create_app
    from server.distributed import redis_gateway_runtime
    from server.serving import serve

    settings = settings_from_args(args)
    _configure_logging(settings)
    if not _require_redis(settings, "gateway") or not _check_model(settings):
        return 2
    serve(create_app(settings, redis_gateway_runtime(settings)), settings)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from server.distributed import run_worker

    settings = settings_from_args(args)
    _configure_logging(settings)
    if not _require_redis(settings, "worker") or not _check_model(settings):
        return 2
    return asyncio.run(run_worker(settings))


def cmd_models(args: argparse.Namespace) -> int:
    settings = Settings()
    for listing in list_models(settings.model_cache_dir):
        mark = "*" if listing.available else " "
        print(f"{mark} {listing.name:10} {listing.description} [{listing.detail}]")
    print("  PATH       any directory with a CTranslate2 Whisper model (model.bin, config.json, tokenizer)")
    if args.check:
        try:
            model = resolve_model(args.check, settings.model_cache_dir)
        except ModelError as error:
            print(f"streamscribe: {error}", file=sys.stderr)
            return 2
        kind = "multilingual" if model.multilingual else "English-only"
        print(f"{args.check}: ok, {kind}, at {model.path}")
    return 0


def cmd_stream(args: argparse.Namespace) -> int:
    from server.client import StreamOptions, stream_file
    from server.media import MediaError

    extra = tuple(tuple(item.split("=", 1)) for item in args.param or [])
    options = StreamOptions(
        url=args.url,
        realtime=args.realtime,
        interim=not args.no_interim,
        language=args.language,
        api_key=args.api_key,
        extra=extra,
    )
    try:
        asyncio.run(stream_file(Path(args.file), options))
    except MediaError as error:
        print(f"streamscribe: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"streamscribe: cannot reach {args.url}: {error}", file=sys.stderr)
        return 1
    return 0


def cmd_transcribe(args: argparse.Namespace) -> int:
    """Run one file through the upload pipeline in this process (no server) and print the transcript."""
    from server.oneshot import render, transcribe_path
    from server.pipeline import UploadError, UploadOptions

    settings = settings_from_args(args)
    _configure_logging(settings)
    if not _check_model(settings):
        return 2
    path = Path(args.file)
    options = UploadOptions(
        language=args.language,
        prompt=args.prompt,
        multichannel=args.multichannel,
        endpoint="cli",
        filename=path.name,
    )
    try:
        transcript = asyncio.run(transcribe_path(settings, path, options))
    except UploadError as error:
        print(f"streamscribe: {error.message}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"streamscribe: cannot read {path}: {error.strerror or error}", file=sys.stderr)
        return 2
    sys.stdout.write(render(transcript, args.format))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="streamscribe", description="Streaming speech-to-text server")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the server in embedded mode (in-process workers)")
    _add_serve_flags(serve)
    serve.set_defaults(handler=cmd_serve)

    gateway = commands.add_parser("gateway", help="distributed mode: the WebSocket gateway (needs --redis-url)")
    _add_serve_flags(gateway)
    gateway.add_argument("--gateway-id", help="names this gateway's results stream [STREAMSCRIBE_GATEWAY_ID]")
    gateway.set_defaults(handler=cmd_gateway)

    worker = commands.add_parser("worker", help="distributed mode: a warm Whisper worker (needs --redis-url)")
    _add_serve_flags(worker)
    worker.add_argument("--worker-id", help="consumer name in Redis [STREAMSCRIBE_WORKER_ID]")
    worker.set_defaults(handler=cmd_worker)

    models = commands.add_parser("models", help="list the models that can be loaded")
    models.add_argument("--check", metavar="MODEL", help="resolve and check one model (name or path)")
    models.set_defaults(handler=cmd_models)

    stream = commands.add_parser("stream", help="stream an audio file to a running server and print transcripts")
    stream.add_argument("file", help="any audio file FFmpeg reads")
    stream.add_argument("--url", default="ws://127.0.0.1:8000", help="server base URL")
    stream.add_argument("--realtime", action="store_true", help="send at real-time pace, like a microphone")
    stream.add_argument("--no-interim", action="store_true", help="finals only")
    stream.add_argument("--language", help="language code, for multilingual models")
    stream.add_argument("--api-key", help="sent as Authorization: Token KEY")
    stream.add_argument("--param", action="append", metavar="KEY=VALUE", help="extra query parameter")
    stream.set_defaults(handler=cmd_stream)

    transcribe = commands.add_parser("transcribe", help="transcribe a file in-process (no server) and print it")
    transcribe.add_argument("file", help="any audio or video file FFmpeg reads")
    transcribe.add_argument(
        "--format",
        choices=("text", "json", "verbose_json", "srt", "vtt"),
        default="text",
        help="text; json: Deepgram's pre-recorded response with utterances; verbose_json: OpenAI's; srt; vtt",
    )
    transcribe.add_argument("--language", help="language code, for multilingual models")
    transcribe.add_argument("--prompt", help="text that primes Whisper (names, spellings)")
    transcribe.add_argument("--multichannel", action="store_true", help="transcribe each channel on its own")
    _add_serve_flags(transcribe)
    transcribe.set_defaults(handler=cmd_transcribe)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
