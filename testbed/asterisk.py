"""Asterisk's recorded voice prompts: hundreds of real recordings with their texts.

Debian ``asterisk-core-sounds-en-g722`` ships the English prompts of the
Asterisk PBX read by one professional speaker (Allison Smith) as 16 kHz G.722,
``asterisk-core-sounds-en-wav`` the same recordings as 8 kHz telephone WAV, and
``asterisk-core-sounds-en`` their texts (``core-sounds-en.txt``). They are
phone-menu sentences ("Please enter your password followed by the pound
key."), single words and numbers ("fourteen", "thousand"): real speech, short,
and full of the digits and one-word answers where Whisper is least sure.

Only prompts whose text is what is said are kept: no tones, no silence files,
no spelled letters or phonetic alphabet, no text with symbols the speaker reads
as words (``*``, ``#``, ``[@]``).
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

from testbed.audio import Clip, read_audio

SOUNDS_DIR = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
TEXTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
PACKAGES = ("asterisk-core-sounds-en", "asterisk-core-sounds-en-g722", "asterisk-core-sounds-en-wav")
_INSTALL = f"install the Debian packages {' '.join(PACKAGES)} (scripts/install-system-deps bench)"

_SKIPPED_DIRS = ("letters/", "phonetic/", "silence/")
_UNSPOKEN = re.compile(r"[\[\]*#@/=+$]")


def prompt_texts() -> dict[str, str]:
    """Prompt name (``digits/14``, ``vm-login``) -> its text, for the prompts kept (see module doc)."""
    if not TEXTS.exists():
        raise RuntimeError(f"{TEXTS} not found; {_INSTALL}")
    texts: dict[str, str] = {}
    for line in gzip.decompress(TEXTS.read_bytes()).decode("utf-8", "replace").splitlines():
        name, sep, text = line.partition(":")
        name, text = name.strip(), text.strip()
        if not sep or line.startswith(";") or not text or name.startswith(_SKIPPED_DIRS):
            continue
        if _UNSPOKEN.search(text) or " " in name:
            continue
        texts[name] = text
    return texts


def prompts(codec: str = "g722") -> list[Clip]:
    """Every kept prompt decoded to 16 kHz int16: ``g722`` (wideband, 16 kHz) or ``wav`` (8 kHz
    telephone recordings, upsampled). Sorted by name; prompts missing on disk are skipped."""
    if codec not in ("g722", "wav"):
        raise ValueError("codec must be 'g722' or 'wav'")
    clips: list[Clip] = []
    for name, text in sorted(prompt_texts().items()):
        path = SOUNDS_DIR / f"{name}.{codec}"
        if path.exists():
            clips.append(Clip(name=f"asterisk-{name}", audio=read_audio(path), text=text))
    if not clips:
        raise RuntimeError(f"no prompts under {SOUNDS_DIR}; {_INSTALL}")
    return clips
