"""OpenAI Realtime transcription sessions, sans I/O: the client events (`messages`),
the session configuration and its updates (`config`), the user items and their
events (`turns`), and the session that wraps a live session with them (`session`)."""
