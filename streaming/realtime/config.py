"""The configuration of an OpenAI Realtime transcription session, sans I/O.

Both spellings of an update are read: the GA `session.update` (a `session`
with `type: "transcription"` and `audio.input.{format, transcription,
turn_detection, noise_reduction}`) and the beta `transcription_session.update`
(`input_audio_format`, `input_audio_transcription`, `turn_detection`,
`input_audio_noise_reduction`). As OpenAI documents, only the fields present
change: a partial update merges into the configuration in effect, and
`turn_detection: null` (manual commits) or `noise_reduction: null` clear
theirs. An update that is wrong anywhere changes nothing (`RealtimeError`).

What each field does here:
- format: how appended audio is decoded (pcm16 at 24 kHz, G.711 at 8 kHz);
- transcription: `language` and `prompt` (and `keywords`, as hotwords) go to
  Whisper; `model` is accepted and echoed, the server's model transcribes;
- turn_detection: `server_vad`'s `silence_duration_ms` is the endpointing
  silence; `semantic_vad` runs as server VAD with a silence chosen by its
  eagerness; `threshold` and `prefix_padding_ms` are accepted and echoed
  (the server's VAD aggressiveness and pre-roll apply); null: manual commits;
- noise_reduction, include: accepted and echoed, without effect.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from streaming.codecs import SAMPLE_RATE, Encoding
from streaming.protocol import MAX_ENDPOINTING_MS, MIN_ENDPOINTING_MS, ListenParams
from streaming.realtime.errors import RealtimeError, invalid_value, missing_parameter
from streaming.realtime.fields import Fields

_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")
LOGPROBS = "item.input_audio_transcription.logprobs"
SEMANTIC_SILENCE_MS = {"low": 1000, "medium": 600, "auto": 600, "high": 300}
"""`semantic_vad` runs as server VAD with this endpointing silence for its eagerness."""
_TURN_KEYS = ("type", "threshold", "prefix_padding_ms", "silence_duration_ms", "create_response",
              "interrupt_response", "idle_timeout_ms", "eagerness")  # fmt: skip
_TRANSCRIPTION_KEYS = ("model", "language", "prompt", "keywords", "languages", "delay")
_NOISE_KEYS = ("type", "strength")
BETA_SESSION_KEYS = ("input_audio_format", "input_audio_transcription", "turn_detection", "input_audio_noise_reduction",
                     "include", "modalities", "client_secret")  # fmt: skip


class AudioFormat(StrEnum):
    """Input audio formats, by their beta names."""

    PCM16 = "pcm16"
    G711_ULAW = "g711_ulaw"
    G711_ALAW = "g711_alaw"

    @property
    def encoding(self) -> Encoding:
        return {"pcm16": Encoding.LINEAR16, "g711_ulaw": Encoding.MULAW, "g711_alaw": Encoding.ALAW}[self.value]

    @property
    def sample_rate(self) -> int:
        return 24_000 if self is AudioFormat.PCM16 else 8_000

    @property
    def ga(self) -> dict[str, Any]:
        """The GA spelling (`audio.input.format`)."""
        if self is AudioFormat.PCM16:
            return {"type": "audio/pcm", "rate": 24_000}
        return {"type": "audio/pcmu" if self is AudioFormat.G711_ULAW else "audio/pcma"}


_GA_FORMATS = {"audio/pcm": AudioFormat.PCM16, "audio/pcmu": AudioFormat.G711_ULAW, "audio/pcma": AudioFormat.G711_ALAW}


@dataclass(frozen=True, slots=True)
class Transcription:
    model: str | None = None
    """As the client named it (echoed); None: the server's model's name is shown."""
    language: str | None = None
    prompt: str | None = None
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TurnDetection:
    type: str = "server_vad"
    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    eagerness: str = "auto"

    @property
    def endpointing_ms(self) -> int:
        """The session's endpointing silence."""
        return SEMANTIC_SILENCE_MS[self.eagerness] if self.type == "semantic_vad" else self.silence_duration_ms

    def as_dict(self) -> dict[str, Any]:
        if self.type == "semantic_vad":
            return {"type": "semantic_vad", "eagerness": self.eagerness}
        return {
            "type": self.type,
            "threshold": self.threshold,
            "prefix_padding_ms": self.prefix_padding_ms,
            "silence_duration_ms": self.silence_duration_ms,
        }


@dataclass(frozen=True, slots=True)
class RealtimeConfig:
    format: AudioFormat = AudioFormat.PCM16
    transcription: Transcription = Transcription()
    turn_detection: TurnDetection | None = TurnDetection()
    """None: manual commits (`turn_detection: null`)."""
    noise_reduction: str | None = None
    """near_field or far_field: accepted and echoed, no effect; None: off."""
    include: tuple[str, ...] = ()

    def listen_params(self, base: ListenParams) -> ListenParams:
        """The wrapped session's parameters: `base` (the archive, callback and
        redaction choices of the connection) with this configuration's; the
        adapter feeds it 16 kHz linear16 whatever the format."""
        turns, words = self.turn_detection, self.transcription
        return replace(
            base,
            encoding=Encoding.LINEAR16,
            sample_rate=SAMPLE_RATE,
            channels=1,
            multichannel=False,
            interim_results=True,
            vad_events=turns is not None,
            endpointing_ms=None if turns is None else turns.endpointing_ms,
            endpointing_disabled=turns is None,
            utterance_end_ms=None,
            language=None if words.language is None else words.language.split("-")[0].lower(),
            model=words.model,
            keyterms=words.keywords[:50],
            prompt=words.prompt or None,
            turn_notices=True,
        )

    def ga_session(self, session_id: str, expires_at: int, model: str) -> dict[str, Any]:
        """The `session` of GA `session.created` / `session.updated`."""
        return {
            "type": "transcription",
            "object": "realtime.transcription_session",
            "id": session_id,
            "expires_at": expires_at,
            "audio": {
                "input": {
                    "format": self.format.ga,
                    "transcription": self._transcription(model),
                    "noise_reduction": None if self.noise_reduction is None else {"type": self.noise_reduction},
                    "turn_detection": None if self.turn_detection is None else self.turn_detection.as_dict(),
                }
            },
            "include": list(self.include) or None,
        }

    def beta_session(self, session_id: str, expires_at: int, model: str) -> dict[str, Any]:
        """The `session` of beta `transcription_session.created` / `.updated`."""
        return {
            "id": session_id,
            "object": "realtime.transcription_session",
            "expires_at": expires_at,
            "modalities": ["text"],
            "input_audio_format": self.format.value,
            "input_audio_transcription": self._transcription(model),
            "turn_detection": None if self.turn_detection is None else self.turn_detection.as_dict(),
            "input_audio_noise_reduction": None if self.noise_reduction is None else {"type": self.noise_reduction},
            "include": list(self.include) or None,
            "client_secret": None,
        }

    def _transcription(self, model: str) -> dict[str, Any]:
        words = self.transcription
        shown: dict[str, Any] = {"model": words.model or model, "language": words.language, "prompt": words.prompt}
        if words.keywords:
            shown["keywords"] = list(words.keywords)
        return shown


# -- updates ----------------------------------------------------------------------------


def apply_ga(config: RealtimeConfig, session: object) -> RealtimeConfig:
    """A GA `session.update`'s `session` merged into `config`."""
    fields = Fields(session, "session", ("type", "audio", "include"))
    kind = fields.string("type", 64)
    if kind is None:
        raise missing_parameter("session.type")
    if kind != "transcription":
        raise RealtimeError(
            "invalid_value",
            f"Invalid value: '{kind[:64]}'. This server serves transcription sessions only: session.type must be "
            "'transcription' (connect with ?intent=transcription).",
            "session.type",
        )
    if fields.has("include"):
        config = replace(config, include=_include(fields))
    audio = fields.object("audio", ("input",))
    source = None if audio is None else audio.object("input", ("format", "transcription", "turn_detection",
                                                               "noise_reduction"))  # fmt: skip
    if source is None:
        return config
    if source.has("format"):
        config = replace(config, format=_ga_format(source))
    if source.has("transcription"):
        config = replace(config, transcription=_transcription(config.transcription, source, "transcription"))
    if source.has("turn_detection"):
        config = replace(config, turn_detection=_turn_detection(config.turn_detection, source))
    if source.has("noise_reduction"):
        config = replace(config, noise_reduction=_noise_reduction(source, "noise_reduction"))
    return config


def apply_beta(config: RealtimeConfig, session: object) -> RealtimeConfig:
    """A beta `transcription_session.update`'s `session` merged into `config`."""
    fields = Fields(session, "session", BETA_SESSION_KEYS)
    if (chosen := fields.choice("input_audio_format", tuple(AudioFormat))) is not None:
        config = replace(config, format=AudioFormat(chosen))
    if fields.has("input_audio_transcription"):
        transcription = _transcription(config.transcription, fields, "input_audio_transcription")
        config = replace(config, transcription=transcription)
    if fields.has("turn_detection"):
        config = replace(config, turn_detection=_turn_detection(config.turn_detection, fields))
    if fields.has("input_audio_noise_reduction"):
        config = replace(config, noise_reduction=_noise_reduction(fields, "input_audio_noise_reduction"))
    if fields.has("include"):
        config = replace(config, include=_include(fields))
    fields.strings("modalities", limit=16, count=2)  # accepted: a transcription session answers in text
    fields.object("client_secret", ("expires_at",))  # accepted: it concerns minting, not this socket
    return config


def _ga_format(source: Fields) -> AudioFormat:
    described = source.object("format", ("type", "rate"))
    if described is None:
        raise missing_parameter(source.name("format.type"))
    kind = described.choice("type", tuple(_GA_FORMATS)) or "audio/pcm"
    rate = described.integer("rate", 0, 10**6)
    if rate is not None and (kind != "audio/pcm" or rate != 24_000):
        raise invalid_value(described.name("rate"), rate, ("24000",))
    return _GA_FORMATS[kind]


def _transcription(current: Transcription, source: Fields, key: str) -> Transcription:
    fields = source.object(key, _TRANSCRIPTION_KEYS)
    if fields is None:
        return Transcription()  # null: back to the defaults (this server always transcribes)
    model, language = current.model, current.language
    if fields.has("model"):
        model = fields.string("model", 100)
    if fields.has("language"):
        language = fields.string("language", 35)
        if language is not None and not _LANGUAGE.fullmatch(language):
            raise RealtimeError(
                "invalid_value", f"Invalid value: '{language}'. Expected an ISO-639-1 code such as 'en'.",
                fields.name("language"),
            )  # fmt: skip
    languages = fields.strings("languages", limit=35, count=10)
    if language is None and languages and _LANGUAGE.fullmatch(languages[0]):
        language = languages[0] if len(languages) == 1 else None  # several: let Whisper detect
    prompt = fields.string("prompt", 4000) if fields.has("prompt") else current.prompt
    keywords = fields.strings("keywords", limit=100, count=50) if fields.has("keywords") else current.keywords
    fields.choice("delay", ("minimal", "low", "medium", "high", "xhigh"))  # accepted, without effect
    return Transcription(model, language, prompt, keywords or ())


def _turn_detection(current: TurnDetection | None, source: Fields) -> TurnDetection | None:
    fields = source.object("turn_detection", _TURN_KEYS)
    if fields is None:
        return None  # null: manual commits
    base = current or TurnDetection()
    kind = fields.choice("type", ("server_vad", "semantic_vad")) or base.type
    threshold = fields.number("threshold", 0.0, 1.0)
    padding = fields.integer("prefix_padding_ms", 0, 10_000)
    silence = fields.integer("silence_duration_ms", MIN_ENDPOINTING_MS, MAX_ENDPOINTING_MS)
    eagerness = fields.choice("eagerness", tuple(SEMANTIC_SILENCE_MS))
    fields.boolean("create_response")  # accepted: a transcription session creates no responses
    fields.boolean("interrupt_response")
    fields.integer("idle_timeout_ms", 0, 10**7)
    return TurnDetection(
        type=kind,
        threshold=base.threshold if threshold is None else threshold,
        prefix_padding_ms=base.prefix_padding_ms if padding is None else padding,
        silence_duration_ms=base.silence_duration_ms if silence is None else silence,
        eagerness=base.eagerness if eagerness is None else eagerness,
    )


def _noise_reduction(source: Fields, key: str) -> str | None:
    fields = source.object(key, _NOISE_KEYS)
    if fields is None:
        return None
    fields.number("strength", 0.0, 10.0)
    return fields.choice("type", ("near_field", "far_field")) or "near_field"


def _include(fields: Fields) -> tuple[str, ...]:
    included = fields.strings("include", limit=100, count=4) or ()
    for index, item in enumerate(included):
        if item != LOGPROBS:
            raise invalid_value(f"{fields.name('include')}[{index}]", item, (LOGPROBS,))
    return included
