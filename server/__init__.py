"""I/O shells around the streaming core: HTTP/WebSocket gateway, queue, workers, archive."""
