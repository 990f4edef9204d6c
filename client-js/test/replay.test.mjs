// Unit tests of the replay buffer (replay.js): which audio a reconnect resends
// (sent but not covered by a final, or never sent), the replay window, the cap
// on all audio kept, and when dropping audio means losing it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ReplayBuffer } from '../replay.js';

/** `count` samples whose values are their absolute index, to recognize what is kept. */
function ramp(from, count) {
  return Int16Array.from({ length: count }, (_, i) => from + i);
}

/** The samples kept, concatenated. @param {ReplayBuffer} buffer */
function kept(buffer) {
  return buffer.chunks.flatMap((chunk) => [...chunk.samples]);
}

/** A buffer counting 10 samples a second, so that limits are small numbers. */
function buffer({ replaySeconds = 30, maxBufferSeconds = 120 } = {}) {
  return new ReplayBuffer({ replaySeconds, maxBufferSeconds }, 10);
}

/** Push `count` samples after those already pushed; mark them sent when `sent`. */
function feed(replay, count, { sent = true } = {}) {
  replay.push(ramp(replay.captured, count));
  if (sent) replay.markSent();
  return replay.trim();
}

describe('ReplayBuffer', () => {
  it('counts samples pushed and keeps them in order without gaps', () => {
    const replay = buffer();
    assert.equal(replay.start, 0);
    replay.push(ramp(0, 3));
    replay.push(new Int16Array(0)); // nothing: no empty chunk
    replay.push(ramp(3, 4));
    assert.equal(replay.captured, 7);
    assert.equal(replay.chunks.length, 2);
    assert.deepEqual(replay.chunks.map((c) => c.start), [0, 3]);
    assert.deepEqual(kept(replay), [...ramp(0, 7)]);
    assert.equal(replay.size, 7);
    assert.equal(replay.start, 0);
  });

  it('keeps sent audio until a final covers it, cutting inside a chunk', () => {
    const replay = buffer();
    feed(replay, 10);
    feed(replay, 10);
    replay.confirm(13);
    assert.equal(replay.trim(), false);
    assert.equal(replay.start, 13);
    assert.deepEqual(kept(replay), [...ramp(13, 7)]);
    assert.deepEqual(replay.chunks.map((c) => c.start), [13]);
  });

  it('never moves the confirmed position back (finals arrive out of order, or again)', () => {
    const replay = buffer();
    feed(replay, 20);
    replay.confirm(15);
    replay.confirm(8);
    replay.trim();
    assert.equal(replay.confirmed, 15);
    assert.equal(replay.start, 15);
  });

  it('keeps audio not yet sent even when finals cover the sent audio', () => {
    const replay = buffer();
    feed(replay, 10);
    replay.confirm(10);
    feed(replay, 5, { sent: false }); // the connection is down
    assert.equal(replay.start, 10);
    assert.deepEqual(kept(replay), [...ramp(10, 5)]);
  });

  it('keeps audio never sent although no final covers it yet and it is older than the replay window', () => {
    const replay = buffer({ replaySeconds: 1 });
    for (let i = 0; i < 5; i++) feed(replay, 10, { sent: false });
    assert.equal(replay.sentUpTo, 0);
    assert.equal(replay.size, 50);
    assert.equal(replay.start, 0);
  });

  it('keeps sent, unconfirmed audio for the replay window only', () => {
    const replay = buffer({ replaySeconds: 2 }); // 20 samples
    for (let i = 0; i < 5; i++) feed(replay, 10);
    assert.equal(replay.start, 30);
    assert.deepEqual(kept(replay), [...ramp(30, 20)]);
  });

  it('starts a new connection where the audio kept starts, or at the end when none is', () => {
    const replay = buffer();
    feed(replay, 10);
    replay.confirm(10);
    replay.trim();
    assert.equal(replay.size, 0);
    assert.equal(replay.start, 10);
    feed(replay, 4, { sent: false });
    assert.equal(replay.start, 10);
  });

  it('caps all audio kept, and says when the audio dropped had never been sent', () => {
    const replay = buffer({ maxBufferSeconds: 3 }); // 30 samples
    feed(replay, 10); // sent, not confirmed
    assert.equal(feed(replay, 15, { sent: false }), false);
    assert.equal(replay.size, 25);
    // over the cap, but only sent audio goes: it is not lost for good (it was sent once)
    assert.equal(feed(replay, 10, { sent: false }), false);
    assert.equal(replay.start, 5);
    // now audio never sent goes: lost
    assert.equal(feed(replay, 10, { sent: false }), true);
    assert.equal(replay.size, 30);
    assert.equal(replay.start, 15);
    assert.deepEqual(kept(replay), [...ramp(15, 30)]);
  });

  it('after a drop keeps the replay window of sent audio plus the gap, and trims once the new connection has it', () => {
    const replay = buffer({ replaySeconds: 1 }); // 10 samples
    feed(replay, 10); // sent, no final yet
    feed(replay, 10, { sent: false }); // the gap
    assert.equal(replay.start, 0);
    assert.deepEqual(kept(replay), [...ramp(0, 20)]); // what the new connection is sent
    replay.markSent();
    assert.equal(replay.sentUpTo, 20);
    assert.equal(replay.trim(), false);
    assert.equal(replay.start, 10); // the replay window of what was sent
  });

  it('reads its limits in seconds at 16 kHz by default', () => {
    const replay = new ReplayBuffer({ replaySeconds: 30, maxBufferSeconds: 120 });
    assert.equal(replay.replaySamples, 30 * 16000);
    assert.equal(replay.maxSamples, 120 * 16000);
  });
});
