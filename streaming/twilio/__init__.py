"""Twilio Media Streams, sans I/O: the messages Twilio sends (`messages`), the
call clock that aligns the two tracks (`tracks`), and the call that feeds a
live session with them (`call`)."""
