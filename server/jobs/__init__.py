"""Transcription jobs between gateways and workers: the queue protocol, its
in-memory and Redis Streams implementations, the worker pool, the load monitor."""
