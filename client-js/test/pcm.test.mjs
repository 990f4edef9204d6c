// Unit tests of the PCM conversion and resampling the AudioWorklet runs.
// Run: node --test client-js/test/
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  PcmEncoder,
  PcmFramer,
  StreamingResampler,
  downmix,
  floatToInt16,
  int16ToLittleEndian,
  level,
} from '../pcm.js';

/** Deterministic pseudo-random numbers (mulberry32). */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function sine(freq, rate, n, amplitude = 0.5, phase = 0) {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = amplitude * Math.sin((2 * Math.PI * freq * i) / rate + phase);
  return out;
}

function concat(parts) {
  const n = parts.reduce((sum, p) => sum + p.length, 0);
  const out = new Float32Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Run `signal` through a fresh resampler in chunks of the given sizes (cycled), then flush. */
function resampleInChunks(signal, inRate, outRate, sizes) {
  const resampler = new StreamingResampler(inRate, outRate);
  const parts = [];
  let offset = 0;
  let i = 0;
  while (offset < signal.length) {
    const size = sizes[i++ % sizes.length];
    parts.push(resampler.process(signal.subarray(offset, offset + size)));
    offset += size;
  }
  parts.push(resampler.flush());
  return concat(parts);
}

function rms(samples, from = 0, to = samples.length) {
  let sum = 0;
  for (let i = from; i < to; i++) sum += samples[i] * samples[i];
  return Math.sqrt(sum / (to - from));
}

describe('floatToInt16', () => {
  it('keeps sample order and scales to the int16 range', () => {
    const out = floatToInt16(new Float32Array([0, 0.5, -0.5, 1, -1, 0.25, -0.25]));
    assert.deepEqual([...out], [0, 16384, -16384, 32767, -32768, 8192, -8192]);
  });

  it('clamps values outside [-1, 1] instead of wrapping, and maps NaN to 0', () => {
    const out = floatToInt16([1.5, -2, 1.0000001, -1.0000001, 100, -100, Number.NaN, Infinity, -Infinity]);
    assert.deepEqual([...out], [32767, -32768, 32767, -32768, 32767, -32768, 0, 32767, -32768]);
  });

  it('writes into a given array', () => {
    const target = new Int16Array(3);
    assert.equal(floatToInt16([0.1, 0.2, 0.3], target), target);
    assert.deepEqual([...target], [3277, 6553, 9830]);
  });
});

describe('int16ToLittleEndian', () => {
  it('writes little-endian bytes in order', () => {
    const bytes = new Uint8Array(int16ToLittleEndian(new Int16Array([1, -2, 0x1234, -32768])));
    assert.deepEqual([...bytes], [0x01, 0x00, 0xfe, 0xff, 0x34, 0x12, 0x00, 0x80]);
  });
});

describe('downmix and level', () => {
  it('averages channels', () => {
    const mono = downmix([new Float32Array([1, 0, -1]), new Float32Array([0, 0.5, -1])]);
    assert.deepEqual([...mono], [0.5, 0.25, -1]);
  });

  it('passes one channel through', () => {
    const channel = new Float32Array([0.1, 0.2]);
    assert.equal(downmix([channel]), channel);
  });

  it('measures RMS and peak', () => {
    const { rms: r, peak } = level(new Float32Array([0.5, -0.5, 0.5, -1]));
    assert.ok(Math.abs(r - Math.sqrt((0.25 * 3 + 1) / 4)) < 1e-7);
    assert.equal(peak, 1);
  });
});

describe('StreamingResampler', () => {
  for (const inRate of [48000, 44100, 32000, 22050, 8000]) {
    it(`${inRate} Hz -> 16 kHz: output length matches the duration`, () => {
      const out = resampleInChunks(new Float32Array(inRate * 2), inRate, 16000, [128]);
      assert.equal(out.length, 32000);
    });

    it(`${inRate} Hz -> 16 kHz: any buffer sizes give exactly the one-shot output (state across buffers)`, () => {
      const next = random(inRate);
      const signal = new Float32Array(inRate);
      for (let i = 0; i < signal.length; i++) signal[i] = next() * 2 - 1;
      const whole = resampleInChunks(signal, inRate, 16000, [signal.length]);
      const quanta = resampleInChunks(signal, inRate, 16000, [128]);
      const ragged = resampleInChunks(signal, inRate, 16000, [1, 7, 128, 3, 999, 2, 64, 513]);
      assert.deepEqual(quanta, whole);
      assert.deepEqual(ragged, whole);
    });

    it(`${inRate} Hz -> 16 kHz: a 440 Hz tone keeps its phase and amplitude`, () => {
      const signal = sine(440, inRate, inRate);
      const out = resampleInChunks(signal, inRate, 16000, [128]);
      const expected = sine(440, 16000, 16000);
      let worst = 0;
      for (let k = 200; k < out.length - 200; k++) worst = Math.max(worst, Math.abs(out[k] - expected[k]));
      assert.ok(worst < 2e-3, `max error ${worst}`);
    });
  }

  it('passes 16 kHz through unchanged', () => {
    const signal = sine(1000, 16000, 1000);
    const resampler = new StreamingResampler(16000, 16000);
    assert.deepEqual(resampler.process(signal), signal);
    assert.equal(resampler.flush().length, 0);
  });

  it('removes content above 8 kHz instead of aliasing it (48 kHz -> 16 kHz)', () => {
    for (const freq of [9000, 12000, 20000]) {
      const out = resampleInChunks(sine(freq, 48000, 48000), 48000, 16000, [128]);
      const residual = rms(out, 200, out.length - 200);
      // 0.5 amplitude -> RMS 0.354; demand better than -60 dB
      assert.ok(residual < 0.354e-3, `${freq} Hz leaks RMS ${residual}`);
    }
  });

  it('keeps speech-band content (3.4 kHz) at full level', () => {
    const out = resampleInChunks(sine(3400, 48000, 48000), 48000, 16000, [128]);
    const ratio = rms(out, 200, out.length - 200) / (0.5 / Math.SQRT2);
    assert.ok(Math.abs(ratio - 1) < 0.01, `gain ${ratio}`);
  });

  it('has no clicks at render-quantum edges', () => {
    // The largest step a clean 1 kHz sine of amplitude 0.5 takes at 16 kHz:
    const bound = 0.5 * 2 * Math.sin((Math.PI * 1000) / 16000) * 1.01;
    const out = resampleInChunks(sine(1000, 48000, 48000, 0.5, 0.3), 48000, 16000, [128]);
    for (let k = 100; k < out.length - 100; k++) {
      assert.ok(Math.abs(out[k] - out[k - 1]) <= bound, `step ${Math.abs(out[k] - out[k - 1])} at ${k}`);
    }
  });

  it('delays output by only a few milliseconds', () => {
    const resampler = new StreamingResampler(48000, 16000);
    assert.ok(resampler.delay / 16000 < 0.003, `delay ${resampler.delay / 16000} s`);
    const produced = resampler.process(new Float32Array(4800)).length; // 100 ms in
    assert.ok(produced >= 1600 - Math.ceil(resampler.delay) - 1, `only ${produced} samples after 100 ms`);
  });

  it('holds DC at unit gain', () => {
    const out = resampleInChunks(new Float32Array(44100).fill(0.25), 44100, 16000, [128]);
    for (let k = 100; k < out.length - 100; k++) assert.ok(Math.abs(out[k] - 0.25) < 1e-6);
  });
});

describe('PcmFramer', () => {
  it('cuts exact frames in order and keeps the remainder for flush', () => {
    const framer = new PcmFramer(4);
    const frames = framer.push(Int16Array.from([1, 2, 3, 4, 5, 6]));
    assert.deepEqual(frames.map((f) => [...f]), [[1, 2, 3, 4]]);
    assert.deepEqual(framer.push(Int16Array.from([7, 8, 9, 10, 11])).map((f) => [...f]), [[5, 6, 7, 8]]);
    assert.deepEqual([...framer.flush()], [9, 10, 11]);
    assert.equal(framer.flush(), null);
  });
});

describe('PcmEncoder', () => {
  it('turns 48 kHz render quanta into 50 ms frames of 16 kHz int16', () => {
    const encoder = new PcmEncoder(48000, { frameMs: 50 });
    const signal = sine(440, 48000, 48000, 0.5);
    const frames = [];
    for (let i = 0; i < signal.length; i += 128) frames.push(...encoder.push(signal.subarray(i, i + 128)));
    assert.ok(frames.length >= 19);
    for (const frame of frames) assert.equal(frame.length, 800);
    frames.push(...encoder.flush());
    const total = frames.reduce((sum, f) => sum + f.length, 0);
    assert.equal(total, 16000);
    const all = new Int16Array(total);
    let o = 0;
    for (const f of frames) {
      all.set(f, o);
      o += f.length;
    }
    // the tone survives as int16 at the right level
    let worst = 0;
    for (let k = 200; k < total - 200; k++) {
      const expected = Math.round(0.5 * 32767 * Math.sin((2 * Math.PI * 440 * k) / 16000));
      worst = Math.max(worst, Math.abs(all[k] - expected));
    }
    assert.ok(worst <= 70, `max error ${worst} LSB`);
  });

  it('refuses frame lengths outside 20-100 ms', () => {
    assert.throws(() => new PcmEncoder(48000, { frameMs: 10 }), RangeError);
    assert.throws(() => new PcmEncoder(48000, { frameMs: 250 }), RangeError);
  });
});
