"""Deepgram Flux (`/v2/listen`): conversational turns over a live session, sans I/O."""
