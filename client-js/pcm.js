// Pure PCM helpers shared by the AudioWorklet (pcm-worklet.js) and node's test
// runner: no DOM, no Web Audio, no globals. Everything here is streaming: state
// carries across buffers so that a signal cut into any buffer sizes converts to
// exactly the same samples as the whole signal at once (no clicks at edges).

/** The rate the server is sent: 16 kHz mono linear16. */
export const TARGET_RATE = 16000;

/**
 * Float samples in [-1, 1] to signed 16-bit integers, in order. Values outside
 * [-1, 1] are clamped (a clipping microphone must not wrap around), NaN is 0.
 * -1 maps to -32768 and 1 to 32767 (the asymmetric int16 range).
 * @param {ArrayLike<number>} input
 * @param {Int16Array} [out] where to write (length >= input.length); a new array otherwise
 * @returns {Int16Array}
 */
export function floatToInt16(input, out) {
  const n = input.length;
  const result = out ?? new Int16Array(n);
  for (let i = 0; i < n; i++) {
    let s = input[i];
    if (!(s > -1)) s = s !== s ? 0 : -1; // NaN -> 0, <= -1 -> -1
    else if (s > 1) s = 1;
    result[i] = s < 0 ? Math.round(s * 32768) : Math.round(s * 32767);
  }
  return result;
}

/**
 * Signed 16-bit samples as little-endian bytes (linear16 on the wire), whatever
 * the platform's byte order.
 * @param {Int16Array} samples
 * @returns {ArrayBuffer}
 */
export function int16ToLittleEndian(samples) {
  const buffer = new ArrayBuffer(samples.length * 2);
  const view = new DataView(buffer);
  for (let i = 0; i < samples.length; i++) view.setInt16(i * 2, samples[i], true);
  return buffer;
}

/**
 * Average the channels of one render quantum into mono.
 * @param {ReadonlyArray<Float32Array>} channels
 * @returns {Float32Array}
 */
export function downmix(channels) {
  if (channels.length === 0) return new Float32Array(0);
  if (channels.length === 1) return channels[0];
  const n = channels[0].length;
  const out = new Float32Array(n);
  for (const channel of channels) for (let i = 0; i < n; i++) out[i] += channel[i];
  const scale = 1 / channels.length;
  for (let i = 0; i < n; i++) out[i] *= scale;
  return out;
}

const KERNEL_STEPS = 512; // table entries per input sample of kernel support

/**
 * Streaming windowed-sinc resampler (band-limited, any rate ratio), mono Float32.
 *
 * Output sample k sits at input time k * inRate / outRate (computed from the
 * integer k, so it never drifts over hours). The low-pass cut-off is just under
 * the lower Nyquist frequency, so 48 kHz -> 16 kHz audio does not alias. The
 * input history needed by the filter is kept between calls; the delay is half
 * the filter length (under 2 ms for 48 kHz -> 16 kHz). Equal rates pass
 * samples through untouched.
 */
export class StreamingResampler {
  /**
   * @param {number} inRate input sample rate (Hz)
   * @param {number} [outRate] output sample rate (Hz), default 16000
   * @param {{zeroCrossings?: number, rolloff?: number}} [options]
   *   zeroCrossings: sinc lobes on each side (quality vs. cost, default 16);
   *   rolloff: cut-off as a fraction of the lower Nyquist frequency (default 0.92)
   */
  constructor(inRate, outRate = TARGET_RATE, options = {}) {
    if (!(inRate > 0) || !(outRate > 0)) throw new RangeError(`sample rates must be positive: ${inRate} -> ${outRate}`);
    this.inRate = inRate;
    this.outRate = outRate;
    this.passthrough = inRate === outRate;
    const zeroCrossings = options.zeroCrossings ?? 16;
    const rolloff = options.rolloff ?? 0.92;
    /** cut-off in cycles per input sample * 2 (1 = input Nyquist) */
    this.cutoff = Math.min(1, outRate / inRate) * rolloff;
    /** half the filter support, in input samples */
    this.halfWidth = Math.ceil(zeroCrossings / this.cutoff);
    this.table = buildKernel(this.halfWidth, this.cutoff);
    /** Input samples kept, this.buffer[0] is absolute input index this.bufferStart. */
    this.buffer = new Float32Array(Math.max(1024, 4 * this.halfWidth));
    this.bufferLength = this.halfWidth; // zeros before the first sample
    this.bufferStart = -this.halfWidth;
    this.inputCount = 0; // input samples received
    this.outputCount = 0; // output samples produced
  }

  /** Samples of delay the filter adds, in output samples. */
  get delay() {
    return this.passthrough ? 0 : (this.halfWidth * this.outRate) / this.inRate;
  }

  /**
   * Resample the next buffer of the stream.
   * @param {ArrayLike<number>} input
   * @returns {Float32Array} the output samples now computable (may be empty)
   */
  process(input) {
    if (this.passthrough) {
      this.inputCount += input.length;
      this.outputCount += input.length;
      return Float32Array.from(input);
    }
    this.append(input);
    this.inputCount += input.length;
    return this.produce(this.inputCount - 1 - this.halfWidth);
  }

  /**
   * End of stream: the outputs that the remaining input covers (the filter's
   * right half sees zeros after the last sample). The resampler can go on
   * afterwards as if the stream had been silent.
   * @returns {Float32Array}
   */
  flush() {
    if (this.passthrough) return new Float32Array(0);
    const end = this.inputCount;
    this.append(new Float32Array(this.halfWidth + 1));
    this.inputCount += this.halfWidth + 1;
    // outputs at input times < end
    return this.produce(end - 1e-9);
  }

  /** @param {ArrayLike<number>} input */
  append(input) {
    const needed = this.bufferLength + input.length;
    if (needed > this.buffer.length) {
      const bigger = new Float32Array(Math.max(needed, 2 * this.buffer.length));
      bigger.set(this.buffer.subarray(0, this.bufferLength));
      this.buffer = bigger;
    }
    this.buffer.set(input, this.bufferLength);
    this.bufferLength += input.length;
  }

  /**
   * Produce every output whose time t has all its filter taps available
   * (t <= lastTime), then drop history no later output needs.
   * @param {number} lastTime
   */
  produce(lastTime) {
    const { inRate, outRate, halfWidth, table, buffer } = this;
    const first = this.outputCount;
    // outputs k with k * inRate / outRate <= lastTime
    const last = Math.floor((lastTime * outRate) / inRate);
    const count = Math.max(0, last - first + 1);
    const out = new Float32Array(count);
    for (let j = 0; j < count; j++) {
      const k = first + j;
      const t = (k * inRate) / outRate;
      const center = Math.floor(t);
      const frac = t - center;
      let acc = 0;
      let norm = 0;
      // taps i = center - halfWidth + 1 .. center + halfWidth, distance d = i - t
      let index = center - halfWidth + 1 - this.bufferStart;
      for (let m = -halfWidth + 1; m <= halfWidth; m++, index++) {
        const position = Math.abs(m - frac) * KERNEL_STEPS;
        const p = Math.floor(position);
        const a = position - p;
        const w = table[p] + a * (table[p + 1] - table[p]);
        acc += w * buffer[index];
        norm += w;
      }
      out[j] = norm !== 0 ? acc / norm : 0;
    }
    this.outputCount += count;
    // keep from the first tap of the next output on
    const nextCenter = Math.floor((this.outputCount * inRate) / outRate);
    const keepFrom = nextCenter - halfWidth + 1;
    const drop = Math.min(this.bufferLength, Math.max(0, keepFrom - this.bufferStart));
    if (drop > 0) {
      buffer.copyWithin(0, drop, this.bufferLength);
      this.bufferLength -= drop;
      this.bufferStart += drop;
    }
    return out;
  }
}

/**
 * Kaiser-windowed sinc sampled at KERNEL_STEPS points per input sample on [0, halfWidth] (+1 guard entry).
 * @param {number} halfWidth
 * @param {number} cutoff
 */
function buildKernel(halfWidth, cutoff) {
  const size = halfWidth * KERNEL_STEPS + 2;
  const table = new Float64Array(size);
  const beta = 8.6; // Kaiser beta: about 90 dB stop-band attenuation
  const i0Beta = besselI0(beta);
  for (let n = 0; n < size; n++) {
    const x = n / KERNEL_STEPS;
    if (x >= halfWidth) {
      table[n] = 0;
      continue;
    }
    const r = x / halfWidth;
    const window = besselI0(beta * Math.sqrt(1 - r * r)) / i0Beta;
    const arg = Math.PI * cutoff * x;
    const sinc = x === 0 ? 1 : Math.sin(arg) / arg;
    table[n] = cutoff * sinc * window;
  }
  return table;
}

/** Modified Bessel function of the first kind, order 0 (series). @param {number} x */
function besselI0(x) {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 50; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-12) break;
  }
  return sum;
}

/**
 * Cuts a stream of int16 samples into frames of exactly `frameSamples`
 * (the last, partial one only on flush).
 */
export class PcmFramer {
  /** @param {number} frameSamples */
  constructor(frameSamples) {
    if (!(frameSamples >= 1)) throw new RangeError(`frame size must be >= 1 sample: ${frameSamples}`);
    this.frameSamples = Math.round(frameSamples);
    this.pending = new Int16Array(this.frameSamples);
    this.fill = 0;
  }

  /**
   * @param {Int16Array} samples
   * @returns {Int16Array[]} the frames completed by these samples
   */
  push(samples) {
    const frames = [];
    let offset = 0;
    while (offset < samples.length) {
      const take = Math.min(this.frameSamples - this.fill, samples.length - offset);
      this.pending.set(samples.subarray(offset, offset + take), this.fill);
      this.fill += take;
      offset += take;
      if (this.fill === this.frameSamples) {
        frames.push(this.pending);
        this.pending = new Int16Array(this.frameSamples);
        this.fill = 0;
      }
    }
    return frames;
  }

  /** @returns {Int16Array | null} the partial frame, if any */
  flush() {
    if (this.fill === 0) return null;
    const frame = this.pending.slice(0, this.fill);
    this.fill = 0;
    return frame;
  }
}

/**
 * Signal level of float samples, for meters.
 * @param {ArrayLike<number>} samples
 * @returns {{rms: number, peak: number}}
 */
export function level(samples) {
  let sum = 0;
  let peak = 0;
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i];
    sum += s * s;
    const a = Math.abs(s);
    if (a > peak) peak = a;
  }
  return { rms: samples.length ? Math.sqrt(sum / samples.length) : 0, peak };
}

/**
 * One-stop converter for the worklet: native-rate float render quanta in,
 * 16 kHz int16 frames of `frameMs` out.
 */
export class PcmEncoder {
  /**
   * @param {number} inRate
   * @param {{frameMs?: number, outRate?: number}} [options]
   */
  constructor(inRate, options = {}) {
    const outRate = options.outRate ?? TARGET_RATE;
    const frameMs = options.frameMs ?? 50;
    if (!(frameMs >= 20 && frameMs <= 100)) throw new RangeError(`frameMs must be 20-100: ${frameMs}`);
    this.resampler = new StreamingResampler(inRate, outRate);
    this.framer = new PcmFramer((outRate * frameMs) / 1000);
  }

  /**
   * @param {ArrayLike<number>} input mono float samples at inRate
   * @returns {Int16Array[]} complete frames
   */
  push(input) {
    return this.framer.push(floatToInt16(this.resampler.process(input)));
  }

  /** @returns {Int16Array[]} the rest: resampler tail and the partial frame */
  flush() {
    const frames = this.framer.push(floatToInt16(this.resampler.flush()));
    const last = this.framer.flush();
    if (last) frames.push(last);
    return frames;
  }
}
