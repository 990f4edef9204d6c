// Types for pcm.js: streaming PCM conversion shared by the worklet and tests.

export const TARGET_RATE: 16000;

/** Float [-1, 1] to int16, clamped, in order; NaN is 0. */
export function floatToInt16(input: ArrayLike<number>, out?: Int16Array): Int16Array;
/** int16 samples as little-endian bytes (linear16). */
export function int16ToLittleEndian(samples: Int16Array): ArrayBuffer;
/** Average channels into mono. */
export function downmix(channels: ReadonlyArray<Float32Array>): Float32Array;
export function level(samples: ArrayLike<number>): { rms: number; peak: number };

export class StreamingResampler {
  constructor(inRate: number, outRate?: number, options?: { zeroCrossings?: number; rolloff?: number });
  readonly inRate: number;
  readonly outRate: number;
  /** Filter delay in output samples. */
  readonly delay: number;
  process(input: ArrayLike<number>): Float32Array;
  flush(): Float32Array;
}

export class PcmFramer {
  constructor(frameSamples: number);
  push(samples: Int16Array): Int16Array[];
  flush(): Int16Array | null;
}

export class PcmEncoder {
  constructor(inRate: number, options?: { frameMs?: number; outRate?: number });
  push(input: ArrayLike<number>): Int16Array[];
  flush(): Int16Array[];
}
