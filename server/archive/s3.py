"""The S3 archive, on aioboto3: AWS S3 or any S3-compatible store (the only module that imports aioboto3/botocore).

Layout under `s3://bucket/prefix/`:

    recordings/YYYY/MM/DD/{session_id}.wav   16 kHz 16-bit PCM, all channels interleaved
    recordings/YYYY/MM/DD/{session_id}.json  the transcript document
    index/{session_id}.json                  where those two are (GET /v1/recordings/{id}); written last
    intake/{request_id}                      an asynchronous upload until its job is done (server/jobs/intake.py)

Only server-made parts go into a key: the prefix from the operator, the date,
and the session id (a UUID the server generated, checked again by
`recording_key`). How a recording is streamed is in server/archive/s3_recording.py; what
happens when the store is down in server/archive/spool.py and server/archive/drain.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import datetime
from typing import Any, BinaryIO

import aioboto3
import aiohttp
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from server.archive.base import (
    ArchiveUnavailable,
    Recording,
    StoredRecording,
    index_key,
    valid_session_id,
)
from server.archive.drain import SpoolDrainer
from server.archive.s3_recording import S3Recording
from server.archive.spool import Spool
from server.config import Settings, parse_archive_url
from server.metrics import Metrics

log = logging.getLogger("streamscribe.archive")
STORE_ERRORS = (BotoCoreError, ClientError, aiohttp.ClientError, TimeoutError)


def describe(error: BaseException) -> str:
    """A short, human-readable reason: the store's error code and message, or the connection error."""
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        return f"{info.get('Code', 'error')}: {info.get('Message', '')}".strip(" :")[:300]
    return f"{type(error).__name__}: {error}"[:300]


def error_code(error: BaseException) -> str:
    return str(error.response.get("Error", {}).get("Code", "")) if isinstance(error, ClientError) else ""


class S3Archive:
    store_errors = STORE_ERRORS
    describe = staticmethod(describe)
    error_code = staticmethod(error_code)

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        assert settings.archive_url is not None
        self.bucket, self.prefix = parse_archive_url(settings.archive_url)
        self.settings = settings
        self.metrics = metrics
        self.part_size = settings.s3_part_size_mb << 20
        self.spool = Spool(settings.spool_dir, metrics)
        self.drainer = SpoolDrainer(self, settings.spool_retry_min_s, settings.spool_retry_max_s)
        self._client: Any = None
        self._stack = contextlib.AsyncExitStack()

    def key(self, relative: str) -> str:
        return self.prefix + relative

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    @property
    def client(self) -> Any:
        if self._client is None:
            raise RuntimeError("the S3 archive is not started")
        return self._client

    async def start(self) -> None:
        await asyncio.to_thread(self.spool.open)
        s = self.settings
        secret = s.s3_secret_access_key.get_secret_value() if s.s3_secret_access_key else None
        session = aioboto3.Session(aws_access_key_id=s.s3_access_key_id, aws_secret_access_key=secret)
        config = Config(
            region_name=s.s3_region,
            signature_version="s3v4",
            connect_timeout=s.s3_timeout_s,
            read_timeout=s.s3_timeout_s,
            retries={"mode": "standard", "total_max_attempts": 2},
            max_pool_connections=min(128, max(10, s.max_sessions)),
            s3={"addressing_style": "path" if s.s3_path_style else "auto"},
        )
        self._client = await self._stack.enter_async_context(
            session.client("s3", endpoint_url=s.s3_endpoint_url, config=config)
        )
        waiting = len(self.spool.pending())
        log.info("archive: s3://%s/%s; %d recording(s) waiting in %s", self.bucket, self.prefix, waiting, s.spool_dir)
        self.drainer.start()

    async def close(self) -> None:
        await self.drainer.stop()
        await self._stack.aclose()
        self._client = None
        self.spool.close()

    async def open(self, session_id: str, started: datetime, channels: int) -> Recording:
        return S3Recording(self, session_id, started, channels)

    async def lookup(self, session_id: str) -> StoredRecording | None:
        if not valid_session_id(session_id):
            return None
        entry = self.spool.entries.get(session_id)
        if entry is not None and entry.state in ("spooling", "ready"):
            document = await asyncio.to_thread(entry.transcript)
            return StoredRecording(document=document or {"request_id": session_id}, pending=True)
        try:
            index = json.loads(await self.get(self.key(index_key(session_id))))
            document = json.loads(await self.get(str(index["json"])))
            url = await self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": str(index["wav"])},
                ExpiresIn=self.settings.recording_url_expiry_s,
            )
        except ClientError as error:
            if error_code(error) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise ArchiveUnavailable(describe(error)) from error
        except (*STORE_ERRORS, ValueError, KeyError, TypeError) as error:
            raise ArchiveUnavailable(describe(error)) from error
        return StoredRecording(document=document, audio_url=str(url))

    # -- the store's operations ---------------------------------------------------------

    async def put(self, key: str, body: bytes, content_type: str) -> None:
        await self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)

    async def get(self, key: str) -> bytes:
        response = await self.client.get_object(Bucket=self.bucket, Key=key)
        async with response["Body"] as body:
            data: bytes = await body.read()
        return data

    async def put_file(self, key: str, file: BinaryIO) -> None:
        """`file` from its start as one object: one PUT, or a multipart upload of `part_size` parts."""
        size = await asyncio.to_thread(file.seek, 0, 2)
        await asyncio.to_thread(file.seek, 0)
        if size <= self.part_size:
            await self.put(key, await asyncio.to_thread(file.read), "application/octet-stream")
            return
        response = await self.client.create_multipart_upload(Bucket=self.bucket, Key=key)
        upload_id = str(response["UploadId"])
        try:
            parts: list[dict[str, Any]] = []
            while part := await asyncio.to_thread(file.read, self.part_size):
                parts.append(await self.upload_part(key, upload_id, len(parts) + 1, part))
            await self.complete(key, upload_id, parts)
        except BaseException:
            with contextlib.suppress(*STORE_ERRORS):
                await self.abort(key, upload_id)
            raise

    async def get_file(self, key: str, file: BinaryIO) -> bool:
        """Write the object into `file` as it arrives; False: there is no such object."""
        try:
            response = await self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error_code(error) in ("NoSuchKey", "404", "NotFound"):
                return False
            raise
        body = response["Body"]
        async with body:  # (its `as` target is the raw HTTP response, which reads all at once)
            while chunk := await body.read(1 << 20):
                await asyncio.to_thread(file.write, chunk)
        return True

    async def delete(self, key: str) -> None:
        await self.client.delete_object(Bucket=self.bucket, Key=key)

    async def size(self, key: str) -> int | None:
        try:
            response = await self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error_code(error) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise
        return int(response["ContentLength"])

    async def create_upload(self, key: str) -> str:
        response = await self.client.create_multipart_upload(Bucket=self.bucket, Key=key, ContentType="audio/wav")
        return str(response["UploadId"])

    async def upload_part(self, key: str, upload_id: str, number: int, body: bytes) -> dict[str, Any]:
        response = await self.client.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
        )
        return {"PartNumber": number, "ETag": str(response["ETag"])}

    async def complete(self, key: str, upload_id: str, parts: list[dict[str, Any]]) -> None:
        await self.client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": sorted(parts, key=lambda p: int(p["PartNumber"]))},
        )

    async def abort(self, key: str, upload_id: str) -> None:
        try:
            await self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except ClientError as error:
            if error_code(error) != "NoSuchUpload":
                raise

    async def put_transcript(self, manifest: dict[str, Any], transcript: dict[str, Any]) -> None:
        """The transcript JSON, then the index object (written last: it marks the recording complete)."""
        body = json.dumps(transcript, ensure_ascii=False, indent=1).encode()
        await self.put(manifest["json_key"], body, "application/json")
        index = {"session_id": manifest["session_id"], "wav": manifest["wav_key"], "json": manifest["json_key"]}
        await self.put(manifest["index_key"], json.dumps(index).encode(), "application/json")
