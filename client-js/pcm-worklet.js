// AudioWorklet processor: downmixes the input to mono, resamples it from the
// AudioContext's rate to 16 kHz, converts to int16 and posts frames of
// `frameMs` to the main thread (transferred, no copy), with the frame's level.
// Loaded by StreamscribeClient with audioWorklet.addModule(); must be served as
// JavaScript, and with CORS when the page is on another origin.

import { PcmEncoder, downmix, level } from './pcm.js';

const RENDER_QUANTUM = 128;

class StreamscribePcmProcessor extends AudioWorkletProcessor {
  /** @param {{processorOptions?: {frameMs?: number}}} options */
  constructor(options) {
    super();
    const frameMs = options?.processorOptions?.frameMs ?? 50;
    // `sampleRate` is the AudioWorkletGlobalScope's: the context's rate.
    this.encoder = new PcmEncoder(sampleRate, { frameMs });
    this.levelSum = 0;
    this.levelCount = 0;
    this.peak = 0;
    this.stopped = false;
    this.port.onmessage = (event) => {
      if (event.data?.type === 'flush') {
        this.post(this.encoder.flush());
        this.port.postMessage({ type: 'flushed' });
      } else if (event.data?.type === 'stop') {
        this.stopped = true;
      }
    };
  }

  /** @param {Int16Array[]} frames */
  post(frames) {
    for (const frame of frames) {
      const rms = this.levelCount ? Math.sqrt(this.levelSum / this.levelCount) : 0;
      this.port.postMessage({ type: 'frame', samples: frame, rms, peak: this.peak }, [frame.buffer]);
      this.levelSum = 0;
      this.levelCount = 0;
      this.peak = 0;
    }
  }

  /** @param {Float32Array[][]} inputs */
  process(inputs) {
    if (this.stopped) return false;
    const channels = inputs[0];
    // An input with no active source (a track that ended) is silence: the
    // stream's clock keeps running in real time.
    const mono = channels && channels.length ? downmix(channels) : new Float32Array(RENDER_QUANTUM);
    const { rms, peak } = level(mono);
    this.levelSum += rms * rms * mono.length;
    this.levelCount += mono.length;
    if (peak > this.peak) this.peak = peak;
    this.post(this.encoder.push(mono));
    return true;
  }
}

registerProcessor('streamscribe-pcm', StreamscribePcmProcessor);
