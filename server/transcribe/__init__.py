"""Whisper: the faster-whisper adapter, short windows, model files."""
