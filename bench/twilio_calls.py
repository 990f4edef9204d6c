"""Call-center figures: WER through /v1/twilio, end-of-turn latency of concurrent two-track calls, webhook delay.

    .venv/bin/python -m bench.twilio_calls [--calls 1,8] [--out artifacts/bench/twilio-calls]

Starts the server in embedded mode as the load tests do (two workers of one thread, no archive),
measures the yardstick (bench/yardstick.py, one direct faster-whisper call per utterance) and then:

- WER of the same speech three ways: 16 kHz linear16 on /v1/listen; 8 kHz mu-law on /v1/listen
  (`encoding=mulaw&sample_rate=8000`); and as both tracks of a Twilio call on /v1/twilio (20 ms
  mu-law chunks, read from a subscriber socket). The speech is the LibriVox clips and JFK,
  band-limited to 8 kHz and mu-law coded as a telephone line would: it was not recorded over a
  telephone line, so real calls (codec loss, noise, crosstalk) will do worse.
- For 1 and 8 concurrent two-track calls at real-time pace (the caller's utterances on the inbound
  track, the agent's on the outbound track, alternating as in a dialogue): end-of-turn latency,
  from the chunk that ends an utterance's speech to the speech_final covering it on a subscriber
  socket (`/v1/calls/{callSid}/events`), p50/p95 in ms and in yardstick calls; missed turns; WER.
- Webhook delay: each final's arrival at a webhook receiver (`callback=` in customParameters)
  minus its arrival on the subscriber socket, p50/p95.

Results: OUT.json and OUT.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench import yardstick
from bench.live_latency import percentile, speech_end
from testbed import audio, corpora
from testbed.receiver import WebhookReceiver
from testbed.server import ServerProcess, listen_url, stream
from testbed.twilio import CallTrack, TwilioCallScript, follow_call, play_call, twilio_url

GAP_S = 1.5
"""Pause between one side's utterance and the other side's next."""


@dataclass
class Side:
    mulaw: bytes
    speech_ends: list[float]
    """Call time at which each of this side's utterances' speech ends."""
    reference: str


def dialogue(clips: Sequence[audio.Clip]) -> tuple[Side, Side]:
    """Alternating utterances: even clips on the inbound track, odd ones on the outbound, never overlapping."""
    tracks = [np.zeros(0, np.int16), np.zeros(0, np.int16)]
    ends: list[list[float]] = [[], []]
    texts: list[list[str]] = [[], []]
    clock = 0.5
    for index, clip in enumerate(clips):
        side = index % 2
        start = round(clock * audio.RATE)
        track = tracks[side]
        tracks[side] = np.concatenate([track, np.zeros(start - len(track), np.int16), clip.audio])
        ends[side].append(clock + speech_end(clip))
        texts[side].append(clip.text)
        clock += clip.duration + GAP_S
    length = round((clock + 1.0) * audio.RATE)
    padded = [np.concatenate([t, np.zeros(length - len(t), np.int16)]) for t in tracks]
    return tuple(Side(audio.to_mulaw_8k(p), e, " ".join(t)) for p, e, t in zip(padded, ends, texts, strict=True))  # type: ignore[return-value]


@dataclass
class CallFigures:
    end_of_turn_ms: list[float] = field(default_factory=list)
    webhook_delay_ms: list[float] = field(default_factory=list)
    missed_turns: int = 0
    wers: list[float] = field(default_factory=list)
    closes: list[int | None] = field(default_factory=list)


def turn_latencies(
    finals: list[tuple[float, dict[str, Any]]], ends: list[float], started: float
) -> tuple[list[float], int]:
    """Per utterance: arrival of the first speech_final whose range covers its speech end, minus when that was sent."""
    latencies, missed = [], 0
    for end in ends:
        covering = [
            at for at, m in finals if m["speech_final"] and m["start"] - 0.1 <= end <= m["start"] + m["duration"] + 0.05
        ]
        if covering:
            latencies.append(1000 * (min(covering) - (started + end)))
        else:
            missed += 1
    return latencies, missed


async def one_call(
    server: ServerProcess, sides: tuple[Side, Side], hook: WebhookReceiver, figures: CallFigures
) -> None:
    script = TwilioCallScript(
        tracks={"inbound": CallTrack(sides[0].mulaw), "outbound": CallTrack(sides[1].mulaw)},
        custom_parameters={"callback": hook.url},
    )
    follower = asyncio.create_task(follow_call(server.ws_url, script.call_sid))
    outcome = await play_call(twilio_url(server.ws_url), script)
    events = (await asyncio.wait_for(follower, 120)).timed
    figures.closes.append(outcome.close_code)
    for channel, side in enumerate(sides):
        finals = [(at, m) for at, m in events if m.get("type") == "Results" and m["channel_index"][0] == channel]
        latencies, missed = turn_latencies(finals, side.speech_ends, outcome.started_wall)
        figures.end_of_turn_ms += latencies
        figures.missed_turns += missed
        text = " ".join(m["channel"]["alternatives"][0]["transcript"] for _, m in finals)
        figures.wers.append(audio.wer(side.reference, text))
    await asyncio.sleep(2.0)  # the last webhooks
    by_key = {(b["channel_index"][0], b["start"]): d.received_at for d in hook.deliveries
              if (b := d.json()).get("type") == "Results" and b.get("callSid") == script.call_sid}  # fmt: skip
    for at, m in events:
        if m.get("type") == "Results" and (key := (m["channel_index"][0], m["start"])) in by_key:
            figures.webhook_delay_ms.append(1000 * (by_key[key] - at))


async def wer_three_ways(server: ServerProcess, clips: Sequence[audio.Clip]) -> dict[str, float]:
    pcm, _ = audio.conversation(clips, gap_s=GAP_S)
    reference = " ".join(clip.text for clip in clips)
    wide = await stream(listen_url(server.ws_url), audio.to_linear16(pcm), chunk_bytes=8000)
    narrow = await stream(
        listen_url(server.ws_url, encoding="mulaw", sample_rate=8000), audio.to_mulaw_8k(pcm), chunk_bytes=4000
    )
    return {"listen_linear16_16k": audio.wer(reference, wide.final_text()),
            "listen_mulaw_8k": audio.wer(reference, narrow.final_text())}  # fmt: skip


def summary(figures: CallFigures, yardstick_ms: float) -> dict[str, Any]:
    eot = figures.end_of_turn_ms
    return {
        "turns": len(eot),
        "missed_turns": figures.missed_turns,
        "end_of_turn_p50_ms": round(percentile(eot, 50)),
        "end_of_turn_p95_ms": round(percentile(eot, 95)),
        "end_of_turn_p50_calls": round(percentile(eot, 50) / yardstick_ms, 2),
        "end_of_turn_p95_calls": round(percentile(eot, 95) / yardstick_ms, 2),
        "webhook_delay_p50_ms": round(percentile(figures.webhook_delay_ms, 50)),
        "webhook_delay_p95_ms": round(percentile(figures.webhook_delay_ms, 95)),
        "webhooks_matched": len(figures.webhook_delay_ms),
        "wer_median": round(statistics.median(figures.wers), 4) if figures.wers else None,
        "closes": sorted({str(code) for code in figures.closes}),
    }


async def measure(levels: Sequence[int], root: Path) -> dict[str, Any]:
    clips = [*corpora.librivox_clips(), corpora.jfk()]
    sides = dialogue(clips)
    env = {"STREAMSCRIBE_ARCHIVE": "false", "STREAMSCRIBE_MAX_SESSIONS": "256", "STREAMSCRIBE_WORKERS": "2",
           "STREAMSCRIBE_CPU_THREADS": str(yardstick.WORKER_THREADS),
           "STREAMSCRIBE_WEBHOOK_ALLOW_PRIVATE_CALLBACKS": "true"}  # fmt: skip
    stick = yardstick.measure()
    server = ServerProcess(archive_dir=root / "archive", env=env).start()
    results: dict[str, Any] = {"yardstick": stick.as_dict(), "audio_s": len(sides[0].mulaw) / 8000}
    try:
        with WebhookReceiver() as hook:
            await one_call(server, sides, hook, CallFigures())  # warm-up, not counted
            wers = await wer_three_ways(server, clips)
            single = CallFigures()
            await one_call(server, sides, hook, single)
            wers["twilio_mulaw_8k_two_tracks"] = round(statistics.mean(single.wers), 4)
            results["wer"] = wers
            results["calls"] = {}
            for calls in levels:
                figures = CallFigures()
                await asyncio.gather(*(one_call(server, sides, hook, figures) for _ in range(calls)))
                results["calls"][str(calls)] = summary(figures, stick.call_s * 1000)
    finally:
        server.stop()
    return results


def markdown(results: dict[str, Any]) -> str:
    stick = results["yardstick"]
    lines = [
        f"Yardstick: {stick['call_s'] * 1000:.0f} ms per call ({stick['model']}, {stick['device']}).",
        "",
        "| audio | WER |",
        "|---|---|",
        *(f"| {name} | {value:.3f} |" for name, value in results["wer"].items()),
        "",
        "| two-track calls | turns | missed | end-of-turn p50 / p95 ms | in yardstick calls "
        "| webhook delay p50 / p95 ms | WER |",
        "|---|---|---|---|---|---|---|",
    ]
    for calls, row in results["calls"].items():
        lines.append(
            f"| {calls} | {row['turns']} | {row['missed_turns']} | {row['end_of_turn_p50_ms']} / "
            f"{row['end_of_turn_p95_ms']} | {row['end_of_turn_p50_calls']} / {row['end_of_turn_p95_calls']} | "
            f"{row['webhook_delay_p50_ms']} / {row['webhook_delay_p95_ms']} | {row['wer_median']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", default="1,8", help="concurrent two-track calls, comma separated")
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench/twilio-calls"))
    options = parser.parse_args(argv)
    levels = [int(level) for level in options.calls.split(",")]
    with tempfile.TemporaryDirectory() as root:
        results = asyncio.run(measure(levels, Path(root)))
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    options.out.with_suffix(".md").write_text(markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
