"""Settings: built once (environment `STREAMSCRIBE_*`, then CLI flags) and passed down."""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from server.credentials import KeyRing, read_keys_file
from streaming.config import SessionConfig
from streaming.pacing import PacingConfig
from streaming.segmenter import SegmenterConfig


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "streamscribe"


ALL_INTERFACES = ("", "0.0.0.0", "::")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PREFIX_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def parse_archive_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> ("bucket", "some/prefix/"); the prefix is "" or ends with "/".

    The prefix comes from the operator, not from clients, but is held to plain
    path segments all the same (no "..", no empty segments, no odd characters)."""
    parts = urlsplit(url.strip())
    if parts.scheme != "s3" or parts.query or parts.fragment:
        raise ValueError(f"archive URL must look like s3://bucket/prefix, got {url!r}")
    bucket = parts.netloc
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise ValueError(f"invalid S3 bucket name {bucket!r} in {url!r}")
    segments = [segment for segment in parts.path.split("/") if segment]
    for segment in segments:
        if not _PREFIX_PART.fullmatch(segment) or set(segment) == {"."}:
            raise ValueError(f"invalid key prefix segment {segment!r} in {url!r}")
    return bucket, "".join(f"{segment}/" for segment in segments)


def host_for_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def local_url(host: str, port: int, scheme: str = "http") -> str:
    """The base URL a client on this machine uses for a server listening on host:port
    (a wildcard address is no place to connect to: its loopback is)."""
    if host in ALL_INTERFACES:
        host = "::1" if host == "::" else "127.0.0.1"
    return f"{scheme}://{host_for_url(host)}:{port}"


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """What server/policy.py decides with, from the settings."""

    keyring: KeyRing
    max_sessions: int
    queued_finals_per_worker: int
    """Live sessions are refused while more finals than this per warm worker wait unstarted."""
    archive: bool
    allow_archive_opt_out: bool
    recording_url_expiry_s: int
    metrics_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class LiveConfig:
    """What a live session's shell (server/http/live.py) needs, from the settings."""

    session: SessionConfig
    vad_mode: int
    archive_salt: bytes = field(repr=False)
    """Salts the client address hash in the archive document."""


@dataclass(frozen=True, slots=True)
class UploadConfig:
    """What the upload endpoints and pipeline need, from the settings."""

    segmenter: SegmenterConfig
    vad_mode: int
    jobs_in_flight: int
    result_timeout_s: float
    max_bytes: int
    max_seconds: float
    """Longest audio a file may decode to (413 beyond)."""
    read_timeout_s: float
    min_bytes_per_s: float


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STREAMSCRIBE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    model: str = "tiny.en"
    """A packaged model name (see `streamscribe models`) or a CTranslate2 Whisper directory."""
    model_cache_dir: Path = Field(default_factory=_default_cache_dir)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where Whisper runs; auto: CUDA when CTranslate2 sees a GPU (the `gpu` extra), else the CPU."""
    compute_type: str | None = None
    """CTranslate2 compute type; unset: int8 on the CPU, float16 on CUDA."""
    workers: int = Field(2, ge=1, le=64)
    """Whisper calls that run at the same time in this process."""
    cpu_threads: int = Field(0, ge=0)
    """Threads per Whisper call; 0: the CPU count divided by `workers`."""
    max_batch: int | None = Field(None, ge=1, le=64)
    """Finals one worker takes at once and decodes as one CTranslate2 batch; unset: 1 (off) on the CPU,
    where batching costs latency with interims (README "Batching"), 8 on CUDA, where a batch costs
    little more than one job (not yet measured here)."""
    short_window: Literal["off", "interims", "all"] = "interims"
    """Which Whisper calls run on a window sized from their audio (max(WINDOW_MIN_S, audio + WINDOW_PAD_S))
    instead of 30 s, at about half the work: `interims` (default: they are replaced by the final, and
    they are most of the live load), `all` (finals too: measured 1-6 WER points worse on some speech sets,
    README "Short windows"), `off`. `true`/`false` mean `all`/`off`."""
    window_min_s: float = Field(10.0, ge=1.0, le=30.0)
    window_pad_s: float = Field(3.0, ge=0.0, le=30.0)
    final_beam_size: int = Field(5, ge=1, le=10)
    interim_beam_size: int = Field(1, ge=1, le=10)

    archive: bool = True
    archive_dir: Path = Path("archive")
    archive_url: str | None = None
    """`s3://bucket/prefix`: archive to S3 or an S3-compatible store instead of `archive_dir`."""
    allow_archive_opt_out: bool = True
    """Whether a session may ask not to be archived with `?archive=false` (refused with 1008 otherwise)."""
    archive_salt: SecretStr = Field(default_factory=lambda: SecretStr(secrets.token_hex(16)))
    """Salt of the client address hash kept in transcripts; random per process unless set."""
    spool_dir: Path = Path("archive-spool")
    """Where recordings wait while the object store is unreachable; one directory per gateway process."""
    spool_retry_min_s: float = Field(1.0, gt=0)
    spool_retry_max_s: float = Field(60.0, gt=0)
    s3_endpoint_url: str | None = None
    """S3-compatible store (MinIO, SeaweedFS, ...); unset: AWS (or AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL)."""
    s3_region: str | None = None
    """Unset: AWS_REGION / AWS_DEFAULT_REGION / the AWS config file, else us-east-1."""
    s3_access_key_id: str | None = None
    """Unset: the standard AWS chain (AWS_ACCESS_KEY_ID, AWS_PROFILE, instance roles, ...)."""
    s3_secret_access_key: SecretStr | None = None
    s3_path_style: bool = False
    """Path-style addressing (http://host/bucket/key), as most S3-compatible stores want."""
    s3_part_size_mb: int = Field(5, ge=5, le=512)
    """Multipart part size; S3 requires at least 5 MiB for every part but the last."""
    s3_timeout_s: float = Field(10.0, gt=0)
    """Connect and read timeout of one S3 request (each is tried at most twice)."""
    recording_url_expiry_s: int = Field(900, ge=1, le=7 * 24 * 3600)
    """Lifetime of the presigned audio URL GET /v1/recordings/{id} returns."""

    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Comma-separated keys; empty: no authentication."""
    api_keys_file: Path | None = None
    """A TOML file of `[[key]]` entries (name, sha256 of the key, tenant, scopes, max_sessions,
    uploads_per_minute): keys stored hashed, each with its tenant and limits (`streamscribe keys new`)."""
    token_secret: SecretStr = Field(default_factory=lambda: SecretStr(secrets.token_hex(32)))
    """Signs the short-lived tokens of `POST /v1/auth/grant`; gateways that share it accept each
    other's tokens (default: random per process)."""
    metrics_token: SecretStr | None = None
    """With API keys set, `/metrics` answers only to this token or an admin key (`Authorization: Bearer
    ...`), and `/readyz` says only whether the server is ready to others. Unset: only admin keys."""

    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"])
    """Comma-separated origins that may use the HTTP API and load the browser client from their pages;
    `*` (the default): any; empty: no CORS headers."""

    endpointing_ms: int = Field(400, ge=10, le=10_000)
    """Chosen by measurement: bench/live_latency.py, README "Performance"."""
    speculative_ms: int = Field(200, ge=0, le=10_000)
    """Silence after which an utterance's final decode starts, before endpointing confirms the end of the
    turn (a speculative final): when it does, that result is the final and goes out at once, so the
    Whisper call overlaps the rest of the endpointing silence instead of following it. When speech
    resumes first the job is abandoned (wasted work, counted in streamscribe_speculative_*). On by
    default because a turn end gains up to `endpointing_ms - speculative_ms` (200 ms at the defaults)
    while only pauses between the two lengths cost a decode; 200 ms is half the default endpointing.
    Used only where it is under the session's endpointing silence; 0: off."""
    vad_mode: int = Field(3, ge=0, le=3)
    interim_step_s: float = Field(0.5, gt=0)
    """New audio an open segment gains between interim jobs when the workers are idle, and before its
    first interim always (unless interims pause)."""
    interim_pause_ms: int = Field(100, ge=0, le=10_000)
    """Silence after which the speech before it gets an interim at once instead of at the next step
    (streaming/pacing.py), unless the load has stretched the step: the end of what was said shows one
    cheap interim after the speaker pauses. At most one interim per pause; 0: off."""
    interim_pacing: bool = True
    """Load-aware interims (streaming/pacing.py): the step grows with the measured interim turnaround and
    interims pause during a finals backlog. False: every `interim_step_s` whatever the load (the behaviour
    before; for side-by-side measurements)."""
    interim_max_step_s: float = Field(4.0, gt=0)
    """The longest interim step under load: a segment (at most `max_segment_s`, typically 3-10 s) still
    gets an interim or two; beyond this, interims would hardly precede the final."""
    interim_wait_factor: float = Field(2.0, ge=0)
    """Step = interim turnaround + this x its queue wait (turnaround minus the Whisper call). The wait is
    about zero on an idle server, so the idle step stays `interim_step_s`; under saturation a stream
    then waits idle rather than in the queue, which cuts every interim's queue wait (the lag) by
    1 + factor: 2 brings the 1.5 s wait measured at 16 streams to about 0.5 s."""
    interim_pause_finals_per_worker: float = Field(1.0, gt=0)
    """Interims pause while more final jobs than this per warm worker wait unstarted: even with every
    worker taking a final one would still wait, and a new interim could only delay the next."""
    interim_resume_s: float = Field(2.0, ge=0)
    """After such a pause the step eases from `interim_max_step_s` down over this long, so the paused
    streams resume one after another, not all at once."""
    preroll_ms: int = Field(250, ge=0, le=1000)
    min_speech_ms: int = Field(200, ge=0)
    max_segment_s: float = Field(15.0, ge=1.0, le=29.0)
    idle_timeout_s: float = Field(10.0, gt=0)
    """A live session that sends neither audio nor KeepAlive for this long is closed (1011, NET-0001)."""
    max_without_audio_s: float = Field(300.0, gt=0)
    """A live session that sends no audio for this long is closed (1011) even while KeepAlive arrives:
    a socket kept open with KeepAlive alone holds a session slot for nothing."""
    max_outstanding_finals: int = Field(4, ge=1, le=64)
    """Per channel of a live session: while this many of its utterances await their final, the gateway
    stops reading that socket (TCP backpressure) until results come back. Deepgram accepts audio faster
    than real time (people stream files that way); so do we, but such a client gets its transcripts at
    the workers' pace and cannot fill the queue ahead of everyone else."""
    max_frame_bytes: int = Field(1 << 20, ge=1024)
    max_session_s: float = Field(4 * 3600.0, gt=0)
    """Seconds of audio a live session may send (1008 after)."""
    max_session_wall_s: float = Field(5 * 3600.0, gt=0)
    """Seconds a live session may stay open, whatever it sends (1008 after): a client trickling audio
    slower than real time cannot hold a slot past this."""
    max_sessions: int = Field(64, ge=1)
    drain_timeout_s: float = Field(60.0, gt=0)
    admission_queued_finals_per_worker: int = Field(4, ge=1)
    """Refuse new sessions (1013) while more final jobs than this per warm worker wait unstarted."""

    max_upload_bytes: int = Field(500 * 1024 * 1024, ge=1)
    """Largest file POST /v1/listen and /v1/audio/transcriptions accept (413 above)."""
    max_upload_seconds: float = Field(4 * 3600.0, gt=0)
    """Longest audio an uploaded file may decode to (413 naming the limit): refused before decoding when
    the file's header declares more, stopped as soon as the decoded audio passes it otherwise, so a
    small file of compressed silence cannot fill the workers or the archive with hours of audio."""
    upload_read_timeout_s: float = Field(30.0, gt=0)
    """An upload body that sends nothing for this long is answered 408."""
    upload_min_bytes_per_s: float = Field(8192.0, ge=0)
    """An upload body arriving slower than this on average (after its first 10 s) is answered 408: a
    slow-loris client holds a connection and a session slot while sending next to nothing."""
    upload_endpointing_ms: int = Field(1500, ge=10, le=10_000)
    """Silence that ends a segment of an uploaded file (longer than live: no one waits for a turn to end)."""
    upload_max_segment_s: float = Field(28.0, ge=1.0, le=29.0)
    """Longest segment of an uploaded file: one Whisper window, cut at the quietest recent frame."""
    upload_jobs_in_flight: int = Field(16, ge=1)
    """Jobs of one upload outstanding at a time (at most 2 per warm worker): bounds its memory."""
    upload_result_timeout_s: float = Field(300.0, gt=0)
    """An upload fails (504) when no result of its jobs arrives for this long."""
    async_max_running: int = Field(2, ge=1, le=64)
    """Asynchronous uploads (`POST /v1/listen?callback=`) a gateway runs at once, each counted as an upload."""
    async_max_queued: int = Field(1000, ge=1)
    """Asynchronous uploads waiting or running at most (embedded: per server; Redis: per job queue); then 429."""
    async_retention_s: float = Field(24 * 3600.0, gt=0)
    """How long a finished asynchronous upload's status and result stay readable (`GET /v1/listen/{id}`)."""
    async_intake_dir: Path | None = None
    """Where asynchronous uploads' files (and in embedded mode their jobs) wait; unset: `{archive_dir}/intake`.
    Distributed mode with an S3 archive keeps the files in the object store (`intake/`) instead."""

    redis_url: str | None = None
    """Distributed mode: the Redis that carries jobs and results."""
    gateway_id: str | None = None
    """Names this gateway's results stream; a random id when unset."""
    worker_id: str | None = None
    ready_file: Path | None = None
    """Worker: written once the model is loaded and warm, touched every few seconds while the
    worker runs, removed when it stops; `streamscribe healthcheck worker` (the image's HEALTHCHECK,
    Kubernetes probes) reads it. Unset: no file."""
    claim_idle_s: float = Field(15.0, gt=0)
    """A job unacknowledged this long by its worker is taken over by another (the worker died); so is an
    asynchronous upload whose gateway stopped renewing its claim."""

    webhook_url: str | None = None
    """The operator's receiver (server/webhooks.py): each final result is POSTed to it as JSON. Trusted: it may
    be a private address, and credentials in it are sent as basic auth. Unset: none (clients may name their own
    `callback=`)."""
    webhook_secret: SecretStr | None = None
    """Signs every webhook: `X-Streamscribe-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`
    (server.webhook_security.verify_signature checks it). Unset: webhooks go unsigned."""
    webhook_timeout_s: float = Field(10.0, gt=0)
    """One attempt (resolving, connecting, sending, the answer's status) fails after this long."""
    webhook_max_attempts: int = Field(6, ge=1, le=100)
    """Attempts per delivery: connection errors, timeouts, 429 and 5xx are retried; other answers are final."""
    webhook_backoff_initial_s: float = Field(0.5, gt=0)
    """The wait before the first retry; it doubles each retry, with jitter (between half and all of it)."""
    webhook_backoff_max_s: float = Field(30.0, gt=0)
    """The longest wait between two attempts, a receiver's `Retry-After` included."""
    webhook_max_pending: int = Field(10_000, ge=1)
    """Deliveries submitted and not finished at most; beyond, new ones are dropped (counted and logged): a dead
    receiver costs bounded memory and never slows the audio path."""
    webhook_concurrency: int = Field(16, ge=1, le=1024)
    """Attempts in flight at once; one receiver (host and port) gets at most half of them (at least one), so a
    slow receiver leaves the rest to the others."""
    webhook_allow_private_callbacks: bool = False
    """Whether a client's `callback=` may point at loopback, private, link-local or reserved addresses (checked
    on the URL, and on what its host resolves to when delivering). Off: a client cannot make the gateway POST
    into the operator's network."""

    @field_validator("api_keys", "cors_origins", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator("short_window", mode="before")
    @classmethod
    def _short_window_switch(cls, value: object) -> object:
        # The setting was a switch before it had a mode for interims alone.
        switch = {"true": "all", "false": "off"}
        if isinstance(value, bool):
            return switch[str(value).lower()]
        return switch.get(value.strip().lower(), value) if isinstance(value, str) else value

    @field_validator("webhook_url")
    @classmethod
    def _check_webhook_url(cls, value: str | None) -> str | None:
        parts = urlsplit(value or "")
        if value and (parts.scheme not in ("http", "https") or not parts.hostname):
            # Not echoed: it may hold credentials.
            raise ValueError(f"webhook URL must be an http:// or https:// URL with a host (scheme {parts.scheme!r})")
        return value or None

    @field_validator("api_keys_file")
    @classmethod
    def _check_keys_file(cls, value: Path | None) -> Path | None:
        if value is not None:
            read_keys_file(value)  # raises CredentialsError (a ValueError) with what is wrong
        return value

    @field_validator("archive_url")
    @classmethod
    def _check_archive_url(cls, value: str | None) -> str | None:
        if value:
            parse_archive_url(value)  # raises ValueError with what is wrong
        return value or None

    def session_config(self) -> SessionConfig:
        return SessionConfig(
            default_endpointing_ms=self.endpointing_ms,
            interim_step_s=self.interim_step_s,
            interim_pause_ms=self.interim_pause_ms,
            idle_timeout_s=self.idle_timeout_s,
            max_without_audio_s=self.max_without_audio_s,
            max_outstanding_finals=self.max_outstanding_finals,
            max_wall_s=self.max_session_wall_s,
            max_frame_bytes=self.max_frame_bytes,
            max_session_s=self.max_session_s,
            drain_timeout_s=self.drain_timeout_s,
            preroll_ms=self.preroll_ms,
            min_speech_ms=self.min_speech_ms,
            max_segment_s=self.max_segment_s,
            speculative_ms=self.speculative_ms,
            interim_pacing=self.pacing_config(),
        )

    def access_policy(self) -> AccessPolicy:
        return AccessPolicy(
            keyring=KeyRing.build(self.api_keys, self.api_keys_file, self.token_secret.get_secret_value().encode()),
            max_sessions=self.max_sessions,
            queued_finals_per_worker=self.admission_queued_finals_per_worker,
            archive=self.archive,
            allow_archive_opt_out=self.allow_archive_opt_out,
            recording_url_expiry_s=self.recording_url_expiry_s,
            metrics_token=self.metrics_token.get_secret_value() if self.metrics_token else None,
        )

    def live_config(self) -> LiveConfig:
        return LiveConfig(self.session_config(), self.vad_mode, self.archive_salt.get_secret_value().encode())

    def upload_config(self) -> UploadConfig:
        segmenter = SegmenterConfig(
            endpointing_ms=self.upload_endpointing_ms,
            preroll_ms=self.preroll_ms,
            min_speech_ms=self.min_speech_ms,
            max_segment_s=self.upload_max_segment_s,
        )
        return UploadConfig(
            segmenter,
            self.vad_mode,
            self.upload_jobs_in_flight,
            self.upload_result_timeout_s,
            self.max_upload_bytes,
            self.max_upload_seconds,
            self.upload_read_timeout_s,
            self.upload_min_bytes_per_s,
        )

    def pacing_config(self) -> PacingConfig | None:
        if not self.interim_pacing:
            return None
        return PacingConfig(
            max_step_s=max(self.interim_step_s, self.interim_max_step_s),
            wait_factor=self.interim_wait_factor,
            pause_finals_per_worker=self.interim_pause_finals_per_worker,
            resume_s=self.interim_resume_s,
        )

    def threads_per_worker(self) -> int:
        if self.cpu_threads:
            return self.cpu_threads
        return max(1, (os.cpu_count() or 1) // self.workers)
