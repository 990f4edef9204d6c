"""Make the load-test audio: real speech with each utterance's end recorded.

    .venv/bin/python -m loadtest.fixtures [--out .cache/loadtest/speech]

Writes OUT.raw (16 kHz mono linear16, what stream.js sends), OUT.wav (the
same, for upload.js) and OUT.json: the reference text and, for every
utterance, the stream time at which its speech ends (last voiced 20 ms frame),
which is where end-of-turn latency is measured from. The speech is the five
LibriVox clips of Debian's pocketsphinx-testdata with 1.5 s pauses.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.live_latency import speech_end
from testbed import audio, corpora

DEFAULT_OUT = Path(".cache/loadtest/speech")
GAP_S = 1.5


def make(out: Path = DEFAULT_OUT) -> Path:
    clips = corpora.librivox_clips()
    pcm, utterances = audio.conversation(clips, gap_s=GAP_S)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".raw").write_bytes(audio.to_linear16(pcm))
    audio.write_wav(out.with_suffix(".wav"), pcm)
    manifest = {
        "sample_rate": 16000,
        "duration": len(pcm) / 16000,
        "reference": " ".join(c.text for c in clips),
        "utterances": [
            {"text": c.text, "start": round(u.start, 3), "speech_end": round(u.start + speech_end(c), 3)}
            for u, c in zip(utterances, clips, strict=True)
        ],
    }
    out.with_suffix(".json").write_text(json.dumps(manifest, indent=1))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    print(make(parser.parse_args().out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
