"""Pre-recorded audio: sniffing, decoding, the upload pipeline, response
formats, one-shot transcription of a local file."""
