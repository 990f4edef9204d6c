"""Pure streaming core: audio in, events out. No I/O, no event loop."""
