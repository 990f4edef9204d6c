"""Does running several segments as one CTranslate2 batch beat running them one by one?

    .venv/bin/python -m bench.batching [--segments 4] [--threads 2] [--repeat 3]

Takes real-speech segments (the LibriVox clips), computes Whisper features
once, and times the decoder step (`generate`, beam 5 and greedy) on a batch of
N segments against N calls of batch 1, on the same model and threads. Prints
audio seconds per wall second for each and the speed-up of batching.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from server.models import resolve_model
from tests import audio


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--segments", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--model", default="tiny.en")
    args = parser.parse_args()

    from faster_whisper import WhisperModel

    from server.config import Settings

    model_dir = resolve_model(args.model, Settings().model_cache_dir).path
    whisper = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=args.threads)
    clips = (audio.librivox_clips() * 4)[: args.segments]
    seconds = sum(c.duration for c in clips)
    features = [
        whisper.feature_extractor(c.audio.astype(np.float32) / 32768.0)[:, : whisper.feature_extractor.nb_max_frames]
        for c in clips
    ]
    padded = np.stack(
        [np.pad(f, ((0, 0), (0, whisper.feature_extractor.nb_max_frames - f.shape[1]))) for f in features]
    ).astype(np.float32)
    import ctranslate2

    tokenizer_prompt = [whisper.hf_tokenizer.token_to_id(t) for t in ("<|startoftranscript|>", "<|notimestamps|>")]
    prompt = [tid for tid in tokenizer_prompt if tid is not None]

    def run(batch: np.ndarray, beam: int) -> None:
        encoded = whisper.model.encode(ctranslate2.StorageView.from_array(batch))
        whisper.model.generate(encoded, [prompt] * batch.shape[0], beam_size=beam, max_length=224)

    print(f"{args.segments} segments, {seconds:.1f} s of speech, {args.threads} threads, tiny.en int8")
    print("| beam | one by one, audio s / s | one batch, audio s / s | speed-up |")
    print("|---|---|---|---|")
    for beam in (1, 5):
        run(padded[:1], beam)  # warm-up
        single, batched = [], []
        for _ in range(args.repeat):
            started = time.perf_counter()
            for i in range(len(clips)):
                run(padded[i : i + 1], beam)
            single.append(time.perf_counter() - started)
            started = time.perf_counter()
            run(padded, beam)
            batched.append(time.perf_counter() - started)
        one, many = float(np.median(single)), float(np.median(batched))
        print(f"| {beam} | {seconds / one:.1f} | {seconds / many:.1f} | {one / many:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
