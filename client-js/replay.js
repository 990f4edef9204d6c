// The client's replay buffer: the audio a reconnect may need. A dropped
// connection never delivers its last finals, so audio already sent stays here
// until a final result covers it, and so does audio captured while the
// connection is down; a new connection starts with all of it, so no word is
// lost and none is transcribed twice.
//
// Positions are absolute sample indexes (16 kHz) since the stream started. The
// buffer does no I/O: the client tells it what was captured (push), what the
// current connection has been sent (markSent) and what finals covered
// (confirm), and sends what it keeps (chunks) when a connection opens.

import { TARGET_RATE } from './pcm.js';

/**
 * @typedef {object} ReplayLimits
 * @property {number} replaySeconds sent audio not yet covered by a final that is kept for resending
 * @property {number} maxBufferSeconds most audio kept in all; older audio is dropped
 */

export class ReplayBuffer {
  /**
   * @param {ReplayLimits} limits
   * @param {number} [rate] samples per second
   */
  constructor({ replaySeconds, maxBufferSeconds }, rate = TARGET_RATE) {
    /** samples kept for (re)sending after a drop, at most */
    this.replaySamples = replaySeconds * rate;
    /** samples kept in all, at most */
    this.maxSamples = maxBufferSeconds * rate;
    /** samples pushed since the stream started (absolute index of the next one) */
    this.captured = 0;
    /** absolute index up to which the current connection has been sent audio */
    this.sentUpTo = 0;
    /** absolute index up to which finals have covered the audio */
    this.confirmed = 0;
    /** @type {{start: number, samples: Int16Array}[]} audio kept, in order, without gaps */
    this.chunks = [];
  }

  /**
   * Keep `samples`, the audio that follows what was pushed before.
   * @param {Int16Array} samples
   */
  push(samples) {
    if (samples.length === 0) return;
    this.chunks.push({ start: this.captured, samples });
    this.captured += samples.length;
  }

  /** Everything pushed so far has been sent on the current connection. */
  markSent() {
    this.sentUpTo = this.captured;
  }

  /**
   * Finals cover the audio before `index`: it will not be needed again. Call
   * trim() to drop it.
   * @param {number} index absolute sample index
   */
  confirm(index) {
    this.confirmed = Math.max(this.confirmed, index);
  }

  /** Absolute index of the oldest audio kept (`captured` when none is): where a new connection starts. */
  get start() {
    return this.chunks.length ? this.chunks[0].start : this.captured;
  }

  /** Samples kept. */
  get size() {
    return this.chunks.reduce((n, chunk) => n + chunk.samples.length, 0);
  }

  /**
   * Drop audio that no reconnect will need: sent and covered by finals, sent
   * longer ago than the replay window, or over the cap on all audio kept.
   * @returns {boolean} whether audio never sent was dropped (over the cap: the
   *   connection was down for too long, and that audio is lost)
   */
  trim() {
    const replayFrom = Math.max(this.confirmed, this.sentUpTo - this.replaySamples);
    this.dropBefore(Math.min(replayFrom, this.sentUpTo));
    const cap = this.captured - this.maxSamples;
    if (!this.chunks.length || this.chunks[0].start >= cap) return false;
    const droppedUnsent = cap > this.sentUpTo;
    this.dropBefore(cap);
    return droppedUnsent;
  }

  /** @param {number} index absolute sample index */
  dropBefore(index) {
    while (this.chunks.length) {
      const chunk = this.chunks[0];
      const end = chunk.start + chunk.samples.length;
      if (end <= index) {
        this.chunks.shift();
      } else {
        if (chunk.start < index) {
          this.chunks[0] = { start: index, samples: chunk.samples.subarray(index - chunk.start) };
        }
        break;
      }
    }
  }
}
