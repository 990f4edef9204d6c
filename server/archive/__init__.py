"""Recordings: the archive protocol, the local directory, S3, the spool and its drain."""
