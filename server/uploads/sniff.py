"""File type detection with libmagic: the only module that imports magic.

Uploads are judged by their first bytes, never by their name or the
Content-Type the client claims: a PNG renamed to .wav is still a PNG.
"""

from __future__ import annotations

from dataclasses import dataclass

import magic

SNIFF_BYTES = 64 * 1024
"""How much of the start of a file libmagic sees (MP4 boxes can sit a few KiB in)."""

_MIME = magic.Magic(mime=True)
_DESCRIBE = magic.Magic()

# libmagic names some audio containers outside audio/* and video/*.
_MEDIA_APPLICATION_TYPES = frozenset(
    {
        "application/ogg",
        "application/x-ogg",
        "application/x-matroska",
        "application/vnd.rn-realmedia",
        "application/mxf",
    }
)
# Unknown binary: libmagic has no rule for it (headerless MP3 or AAC frames,
# some raw streams). FFmpeg gets the final word.
_UNKNOWN_BINARY = frozenset({"application/octet-stream"})


@dataclass(frozen=True, slots=True)
class Sniffed:
    mime: str
    description: str

    @property
    def is_media(self) -> bool:
        """Audio or video by its signature."""
        return self.mime.startswith(("audio/", "video/")) or self.mime in _MEDIA_APPLICATION_TYPES

    @property
    def is_unknown_binary(self) -> bool:
        return self.mime in _UNKNOWN_BINARY

    @property
    def acceptable(self) -> bool:
        """Worth handing to FFmpeg: media, or binary that libmagic cannot name."""
        return self.is_media or self.is_unknown_binary

    def summary(self) -> str:
        """E.g. `image/png (PNG image data, 1 x 1, 8-bit/color RGBA, non-interlaced)`."""
        description = self.description if len(self.description) <= 100 else self.description[:97] + "..."
        return f"{self.mime} ({description})" if description and description != "data" else self.mime


def sniff(head: bytes) -> Sniffed:
    """Classify the first bytes of a file (at most SNIFF_BYTES are looked at)."""
    head = head[:SNIFF_BYTES]
    if not head:
        return Sniffed("application/x-empty", "empty")
    try:
        mime = str(_MIME.from_buffer(head)).strip() or "application/octet-stream"
        # libmagic separates nested matches with an escaped newline.
        description = " ".join(str(_DESCRIBE.from_buffer(head)).replace("\\012-", ";").split())
    except magic.MagicException as error:  # libmagic failed on this input: treat as unknown binary
        return Sniffed("application/octet-stream", f"libmagic: {error}")
    return Sniffed(mime, description)
