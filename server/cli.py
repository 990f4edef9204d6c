"""`streamscribe serve|models|stream`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any

from server.config import Settings
from server.transcribe.model_files import ModelError, list_models, resolve_model

# Flags that map one-to-one onto Settings fields (and so onto STREAMSCRIBE_* variables),
# grouped by what they apply to: each command takes the groups it uses.
Flag = tuple[str, type, str]
MODEL_FLAGS: list[Flag] = [
    ("model", str, "tiny.en, base, or a CTranslate2 Whisper directory"),
    ("device", str, "auto, cpu or cuda"),
    ("compute-type", str, "CTranslate2 compute type: int8, int8_float32, float16, ... (unset: by device)"),
    ("workers", int, "concurrent Whisper calls"),
    ("cpu-threads", int, "threads per Whisper call; 0: CPU count / workers"),
]
LISTEN_FLAGS: list[Flag] = [
    ("host", str, "interface to listen on; 0.0.0.0: all"),
    ("port", int, "TCP port"),
    ("endpointing-ms", int, "default silence that ends an utterance, in ms"),
    ("max-sessions", int, "concurrent live sessions before refusing with 1013"),
    ("api-keys", str, "comma-separated API keys; none: no authentication"),
]
LOCAL_ARCHIVE_FLAGS: list[Flag] = [("archive-dir", Path, "directory for recordings and transcripts")]
S3_ARCHIVE_FLAGS: list[Flag] = [
    ("spool-dir", Path, "S3 archive: where recordings wait while the store is unreachable"),
    ("s3-endpoint-url", str, "S3 archive: endpoint of an S3-compatible store (MinIO, SeaweedFS, ...)"),
    ("s3-region", str, "S3 archive: region (default: AWS_REGION, else us-east-1)"),
]
REDIS_FLAGS: list[Flag] = [("redis-url", str, "distributed mode: redis://host:port/db carrying jobs and results")]
LOG_FLAGS: list[Flag] = [("log-level", str, "debug, info, warning or error")]
SERVE_FLAGS = MODEL_FLAGS + LISTEN_FLAGS + LOCAL_ARCHIVE_FLAGS + S3_ARCHIVE_FLAGS + REDIS_FLAGS + LOG_FLAGS


def _default_text(field: str) -> str:
    """` (default: X)` from Settings, the one place defaults are written; nothing where there is none."""
    default = Settings.model_fields[field].get_default(call_default_factory=True)
    return "" if default in (None, [], "") else f" (default: {default})"


def _add_flags(parser: argparse.ArgumentParser, flags: list[Flag]) -> None:
    for flag, kind, help_text in flags:
        field = flag.replace("-", "_")
        env = "STREAMSCRIBE_" + field.upper()
        # default=None: an absent flag leaves the field to the environment, then to Settings.
        parser.add_argument(f"--{flag}", type=kind, default=None, help=f"{help_text}{_default_text(field)} [{env}]")


def _add_no_archive(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-archive", action="store_true", default=None, help="do not archive [STREAMSCRIBE_ARCHIVE=false]"
    )


def _add_serve_flags(parser: argparse.ArgumentParser) -> None:
    _add_flags(parser, SERVE_FLAGS)
    _add_no_archive(parser)
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
    return Settings(**_overrides(args))


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The Settings fields the command line sets (the rest come from the environment and defaults)."""
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
    return overrides


def _export_overrides(args: argparse.Namespace) -> None:
    """Put the command line's settings into the environment, where a reloaded process finds them."""
    for field, value in _overrides(args).items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        os.environ[f"STREAMSCRIBE_{field.upper()}"] = text


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


def _check_listen(settings: Settings) -> bool:
    """Before the model loads: uvicorn only binds after the lifespan, so a busy port would show late."""
    from server.http.serving import ListenError, check_can_listen

    try:
        check_can_listen(settings.host, settings.port)
    except ListenError as error:
        print(f"streamscribe: {error}", file=sys.stderr)
        return False
    return True


def cmd_serve(args: argparse.Namespace) -> int:
    """Embedded mode; with --redis-url, a gateway plus in-process workers on that Redis."""
    settings = settings_from_args(args)
    _configure_logging(settings)
    if not _check_listen(settings) or not _check_model(settings):
        return 2
    from server.http.app import create_app
    from server.http.serving import serve
    from server.runtime.embedded import embedded_runtime

    if settings.redis_url:
        from server.runtime.distributed import redis_gateway_runtime

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
    settings = settings_from_args(args)
    _configure_logging(settings)
    # No model check: a gateway never loads weights and runs without the ML libraries.
    if not _require_redis(settings, "gateway") or not _check_listen(settings):
        return 2
    from server.http.app import create_app
    from server.http.serving import serve
    from server.runtime.distributed import redis_gateway_runtime

    if args.reload:
        from server.http.serving import serve_with_reload

        _export_overrides(args)
        serve_with_reload("server.http.reloadable:gateway_app", settings)
    else:
        serve(create_app(settings, redis_gateway_runtime(settings)), settings)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from server.runtime.distributed import run_worker

    settings = settings_from_args(args)
    _configure_logging(settings)
    if not _require_redis(settings, "worker") or not _check_model(settings):
        return 2
    return asyncio.run(run_worker(settings))


def cmd_healthcheck(args: argparse.Namespace) -> int:
    """Exit 0 when this container's process is healthy; else say why on stderr and exit 1."""
    from server.runtime.health import gateway_problem, worker_problem

    settings = Settings()
    if args.role == "worker":
        problem = worker_problem(settings.ready_file)
    else:
        problem = gateway_problem(settings.host, settings.port, ready=args.ready)
    if problem is not None:
        print(f"streamscribe healthcheck {args.role}: {problem}", file=sys.stderr)
        return 1
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    settings = Settings()
    if args.check:  # only the answer about that model
        try:
            model = resolve_model(args.check, settings.model_cache_dir)
        except ModelError as error:
            print(f"streamscribe: {error}", file=sys.stderr)
            return 2
        kind = "multilingual" if model.multilingual else "English-only"
        print(f"{args.check}: ok, {kind}, at {model.path}")
        return 0
    for listing in list_models(settings.model_cache_dir):
        mark = "*" if listing.available else " "
        print(f"{mark} {listing.name:10} {listing.description} [{listing.detail}]")
    print("  PATH       any directory with a CTranslate2 Whisper model (model.bin, config.json, tokenizer)")
    return 0


def cmd_stream(args: argparse.Namespace) -> int:
    from server.stream_client import StreamError, StreamOptions, stream_file
    from server.uploads.decode import MediaError
    from server.uploads.oneshot import FileProblem

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
    except (FileProblem, MediaError) as error:
        print(f"streamscribe: {error}", file=sys.stderr)
        return 2
    except StreamError as error:
        print(f"streamscribe: {error}", file=sys.stderr)
        return 1
    return 0


def cmd_transcribe(args: argparse.Namespace) -> int:
    """Run one file through the upload pipeline in this process (no server) and print the transcript."""
    from server.uploads.oneshot import FileProblem, open_audio, render, transcribe_prepared
    from server.uploads.pipeline import UploadError, UploadOptions

    settings = settings_from_args(args)
    _configure_logging(settings)
    path = Path(args.file)
    options = UploadOptions(
        language=args.language,
        prompt=args.prompt,
        multichannel=args.multichannel,
        endpoint="cli",
        filename=path.name,
    )
    try:
        # The file first: saying it is not audio must not wait for a model to load.
        with open_audio(path, multichannel=args.multichannel) as prepared:
            if not _check_model(settings):
                return 2
            transcript = asyncio.run(transcribe_prepared(settings, prepared, options))
    except FileProblem as error:
        print(f"streamscribe: {error}", file=sys.stderr)
        return 2
    except UploadError as error:
        print(f"streamscribe: {error.message}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"streamscribe: cannot read {path}: {error.strerror or error}", file=sys.stderr)
        return 2
    sys.stdout.write(render(transcript, args.format))
    return 0


def _default_url() -> str:
    """Where `serve` listens with this environment's settings, as a WebSocket URL."""
    from server.addresses import local_url

    settings = Settings()
    return local_url(settings.host, settings.port, "ws")


def _add_stream(commands: Any) -> None:
    stream = commands.add_parser("stream", help="stream an audio file to a running server and print transcripts")
    stream.add_argument("file", help="any audio file FFmpeg reads")
    stream.add_argument("--url", default=_default_url(), help="server base URL (default: %(default)s)")
    stream.add_argument("--realtime", action="store_true", help="send at real-time pace, like a microphone")
    stream.add_argument("--no-interim", action="store_true", help="finals only")
    stream.add_argument("--language", help="language code, for multilingual models")
    stream.add_argument("--api-key", help="sent as Authorization: Token KEY")
    stream.add_argument("--param", action="append", metavar="KEY=VALUE", help="extra query parameter")
    stream.set_defaults(handler=cmd_stream)


def _add_transcribe(commands: Any) -> None:
    from server.uploads.formats import RESPONSE_FORMATS

    transcribe = commands.add_parser("transcribe", help="transcribe a file in-process (no server) and print it")
    transcribe.add_argument("file", help="any audio or video file FFmpeg reads")
    transcribe.add_argument(
        "--format",
        choices=RESPONSE_FORMATS,
        default="text",
        help="text; json: Deepgram's pre-recorded response with utterances; verbose_json: OpenAI's; srt; vtt "
        "(default: %(default)s)",
    )
    transcribe.add_argument("--language", help="language code, for multilingual models")
    transcribe.add_argument("--prompt", help="text that primes Whisper (names, spellings)")
    transcribe.add_argument("--multichannel", action="store_true", help="transcribe each channel on its own")
    # Only what a one-shot run uses: no listening, no Redis, no S3 flags (their STREAMSCRIBE_* variables still apply).
    _add_flags(transcribe, MODEL_FLAGS + LOCAL_ARCHIVE_FLAGS + LOG_FLAGS)
    _add_no_archive(transcribe)
    transcribe.set_defaults(handler=cmd_transcribe)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="streamscribe", description="Streaming speech-to-text server")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the server in embedded mode (in-process workers)")
    _add_serve_flags(serve)
    serve.set_defaults(handler=cmd_serve)

    gateway = commands.add_parser("gateway", help="distributed mode: the WebSocket gateway (needs --redis-url)")
    _add_serve_flags(gateway)
    gateway.add_argument("--gateway-id", help="names this gateway's results stream [STREAMSCRIBE_GATEWAY_ID]")
    gateway.add_argument(
        "--reload", action="store_true", help="development: restart when the source changes (uvicorn --reload)"
    )
    gateway.set_defaults(handler=cmd_gateway)

    worker = commands.add_parser("worker", help="distributed mode: a warm Whisper worker (needs --redis-url)")
    _add_serve_flags(worker)
    worker.add_argument("--worker-id", help="consumer name in Redis [STREAMSCRIBE_WORKER_ID]")
    worker.set_defaults(handler=cmd_worker)

    models = commands.add_parser("models", help="list the models that can be loaded")
    models.add_argument("--check", metavar="MODEL", help="resolve and check one model (name or path)")
    models.set_defaults(handler=cmd_models)

    health = commands.add_parser(
        "healthcheck", help="containers: exit 0 when the gateway answers or the worker is warm (HEALTHCHECK, probes)"
    )
    health.add_argument("role", choices=("gateway", "worker"))
    health.add_argument("--ready", action="store_true", help="gateway: ask /readyz (a warm worker) not /healthz")
    health.set_defaults(handler=cmd_healthcheck)

    keys = commands.add_parser("keys", help="make an API key for STREAMSCRIBE_API_KEYS_FILE (printed once)")
    keys.add_argument("name", help="what the key is called (logs, limits)")
    keys.add_argument("--tenant", help="whose recordings it reads (default: the name)")
    keys.add_argument(
        "--scopes", default="listen,upload,recordings:read", help="comma-separated (default: %(default)s)"
    )
    keys.set_defaults(handler=cmd_keys)

    _add_stream(commands)
    _add_transcribe(commands)
    return parser


def cmd_keys(args: argparse.Namespace) -> int:
    from server.credentials import new_key_entry

    try:
        key, entry = new_key_entry(args.name, args.tenant, [s.strip() for s in args.scopes.split(",") if s.strip()])
    except ValueError as error:
        print(f"streamscribe keys: {error} (scopes: listen, upload, recordings:read, admin)", file=sys.stderr)
        return 2
    print(f"key (give it to the client; it is not stored anywhere): {key}\n\nadd to the keys file:\n\n{entry}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except KeyboardInterrupt:
        # Ctrl-C: uvicorn has already shut down cleanly and re-raised the signal; no traceback.
        return 130
    return code


if __name__ == "__main__":
    raise SystemExit(main())
