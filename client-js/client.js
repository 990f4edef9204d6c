// The streamscribe browser client: StreamscribeClient streams audio (captured
// by capture.js, or fed with sendAudio()) to WS /v1/listen and emits results.
// When the connection drops it reconnects with backoff; audio captured
// meanwhile, and audio sent but not yet covered by a final result, is kept and
// sent again, and result times stay on one clock that starts at start().

import { TARGET_RATE, int16ToLittleEndian } from './pcm.js';
import { credentialProtocols } from './auth.js';
import { AudioCapture } from './capture.js';
import { CLOSE_MEANINGS, FATAL_CLOSE_CODES, StreamscribeError } from './errors.js';
import { Emitter } from './emitter.js';
import { clientSettings } from './options.js';
import { listenUrl, serverEvent } from './protocol.js';
import { ReplayBuffer } from './replay.js';

/**
 * Streams audio to streamscribe and emits results. See streamscribe.d.ts for
 * the options and events.
 */
export class StreamscribeClient extends Emitter {
  /** @param {import('./streamscribe').StreamscribeOptions} [options] */
  constructor(options = {}) {
    super();
    // server, apiKey, accessToken, frameMs, params, reconnect, connectTimeoutMs, stopTimeoutMs,
    // keepAliveMs, audioConstraints, workletUrl, WebSocketImpl: see options.js
    Object.assign(this, clientSettings(options));
    /** @type {import('./streamscribe').ClientState} */
    this.state = 'idle';
    this.resetStream();
    this.capture = new AudioCapture((frame) => {
      this.sendAudio(frame.samples);
      this.emit('level', { rms: frame.rms, peak: frame.peak });
    });
  }

  resetStream() {
    /** audio captured since start() that a reconnect may need (replay.js) */
    this.replay = new ReplayBuffer(this.reconnect);
    /** absolute index of the current connection's time 0 */
    this.connectionOffset = 0;
    this.connections = 0;
    this.attempt = 0;
    this.overflowReported = false;
    this.lastSendAt = 0;
    /** @type {WebSocket | null} */
    this.socket = null;
    this.socketOpen = false;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.reconnectTimer = null;
    /** @type {ReturnType<typeof setInterval> | null} */
    this.keepAliveTimer = null;
    /** @type {((value?: unknown) => void) | null} */
    this.onStopped = null;
    /** @type {string[]} request ids (one per connection) */
    this.requestIds = [];
    /** @type {((error: unknown) => void) | null} rejects connect() while the first connection opens */
    this.pendingConnect = null;
    /** @type {object | null} the connection attempt waiting for its credentials; closeSocket() cancels it */
    this.pendingAttempt = null;
  }

  /** @param {import('./streamscribe').ClientState} state */
  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', state);
  }

  /** Seconds of audio captured since start(). */
  get duration() {
    return this.replay.captured / TARGET_RATE;
  }

  /**
   * Capture from the microphone (no argument) or from `source`, and stream it.
   * Resolves once audio flows and the first connection is open; rejects with a
   * StreamscribeError (permission-denied, no-microphone, connect, ...) otherwise.
   * @param {MediaStream} [source]
   */
  async start(source) {
    if (this.state !== 'idle' && this.state !== 'closed') throw new Error(`already ${this.state}`);
    this.resetStream();
    this.stopRequested = false;
    this.setState('starting');
    try {
      const sampleRate = await this.capture.start(source, {
        audio: this.audioConstraints,
        workletUrl: this.workletUrl,
        frameMs: this.frameMs,
      });
      this.emit('capture', { sampleRate });
      if (this.stopRequested) throw new StreamscribeError('aborted', 'Stopped before the capture had started.');
      await this.connect();
    } catch (error) {
      await this.capture.close();
      this.clearTimers();
      this.closeSocket();
      this.setState('closed');
      if (this.stopRequested && !(error instanceof StreamscribeError && error.kind !== 'aborted')) {
        throw new StreamscribeError('aborted', 'Stopped before the connection was open.', { cause: error });
      }
      throw error instanceof StreamscribeError ? error : new StreamscribeError('audio', String(error), { cause: error });
    }
  }

  /**
   * Open the connection without capturing: feed audio with sendAudio(). Used by
   * start(); call it directly to stream 16 kHz PCM from elsewhere.
   */
  async connect() {
    if (this.state === 'idle' || this.state === 'closed') {
      this.resetStream();
    }
    this.setState('connecting');
    await new Promise((resolve, reject) => {
      this.pendingConnect = reject;
      void this.attemptConnection(resolve, reject);
    });
    this.pendingConnect = null;
    this.keepAliveTimer = setInterval(() => this.keepAlive(), Math.max(250, this.keepAliveMs / 2));
  }

  /**
   * Stream 16 kHz mono int16 samples (what the worklet produces). Audio sent
   * while the connection is down is kept and sent when it is back.
   * @param {Int16Array} samples
   */
  sendAudio(samples) {
    if (samples.length === 0) return;
    this.replay.push(samples);
    if (this.socketOpen && this.socket) {
      this.transmit(this.socket, samples);
      this.replay.markSent();
    }
    this.trimReplay();
  }

  /**
   * Stop capturing, send the rest and wait for the last finals (the server
   * answers CloseStream with its finals and Metadata, then closes).
   * @returns {Promise<void>}
   */
  async stop() {
    if (this.state === 'idle' || this.state === 'closed' || this.state === 'stopping') return;
    const wasLive = this.socketOpen;
    this.stopRequested = true;
    this.setState('stopping');
    await this.capture.flush();
    await this.capture.close();
    if (this.reconnectTimer) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
    }
    const socket = this.socket;
    if (wasLive && socket && this.socketOpen) {
      const stopped = new Promise((resolve) => {
        this.onStopped = resolve;
      });
      socket.send(JSON.stringify({ type: 'CloseStream' }));
      /** @type {ReturnType<typeof setTimeout> | undefined} */
      let timer;
      const timeout = new Promise((resolve) => {
        timer = setTimeout(resolve, this.stopTimeoutMs);
      });
      await Promise.race([stopped, timeout]);
      clearTimeout(timer);
    }
    this.clearTimers();
    this.closeSocket();
    this.setState('closed');
    this.emit('close', { duration: this.duration, requestIds: [...this.requestIds] });
  }

  // ------------------------------------------------------------- connection

  /**
   * One connection attempt: the credentials first (an accessToken function is
   * asked again each time), then the socket. A first connection that cannot
   * get its token fails; a reconnect counts it as a failed attempt and retries.
   * @param {(value?: unknown) => void} [onFirstOpen]
   * @param {(error: unknown) => void} [onFirstFail]
   */
  async attemptConnection(onFirstOpen, onFirstFail) {
    const attempt = {};
    this.pendingAttempt = attempt;
    let protocols;
    try {
      protocols = await credentialProtocols(this, this.connectTimeoutMs);
    } catch (error) {
      if (this.pendingAttempt !== attempt) return; // stopped meanwhile
      this.pendingAttempt = null;
      const failure = /** @type {StreamscribeError} */ (error);
      if (onFirstFail) onFirstFail(failure);
      else this.retry(0, '', failure.message);
      return;
    }
    if (this.pendingAttempt !== attempt) return;
    this.pendingAttempt = null;
    this.openSocket(protocols, onFirstOpen, onFirstFail);
  }

  /**
   * @param {string[]} protocols the credential subprotocols (auth.js)
   * @param {(value?: unknown) => void} [onFirstOpen]
   * @param {(error: unknown) => void} [onFirstFail]
   */
  openSocket(protocols, onFirstOpen, onFirstFail) {
    const url = listenUrl(this.server, this.params);
    let socket;
    try {
      socket = new this.WebSocketImpl(url, protocols);
    } catch (error) {
      const failure = new StreamscribeError('connect', `Cannot open ${url}: ${error}`, { fatal: true, cause: error });
      if (onFirstFail) onFirstFail(failure);
      else this.fail(failure);
      return;
    }
    socket.binaryType = 'arraybuffer';
    this.socket = socket;
    this.socketOpen = false;
    let opened = false;
    const connectTimer = setTimeout(() => {
      if (!opened) socket.close();
    }, this.connectTimeoutMs);
    socket.onopen = () => {
      opened = true;
      clearTimeout(connectTimer);
      if (this.socket !== socket) return;
      this.socketOpen = true;
      this.connections += 1;
      const reconnected = this.connections > 1;
      this.attempt = 0;
      this.overflowReported = false;
      this.resend(socket);
      if (this.state !== 'stopping') this.setState('live');
      if (reconnected) this.emit('reconnected', { connections: this.connections, offset: this.connectionOffset / TARGET_RATE });
      this.emit('open', { url, connections: this.connections });
      onFirstOpen?.();
    };
    socket.onmessage = (event) => {
      if (this.socket !== socket || typeof event.data !== 'string') return;
      this.onMessage(event.data);
    };
    socket.onerror = () => {
      // a close event follows, with the code
    };
    socket.onclose = (event) => {
      clearTimeout(connectTimer);
      if (this.socket !== socket) return;
      this.socket = null;
      this.socketOpen = false;
      this.onSocketClosed(event.code, event.reason, opened, onFirstFail);
    };
  }

  /**
   * @param {number} code
   * @param {string} reason
   * @param {boolean} opened
   * @param {((error: unknown) => void) | undefined} onFirstFail
   */
  onSocketClosed(code, reason, opened, onFirstFail) {
    if (this.state === 'stopping') {
      this.onStopped?.();
      return;
    }
    if (this.state === 'closed' || this.state === 'idle') return;
    const meaning = CLOSE_MEANINGS[/** @type {keyof typeof CLOSE_MEANINGS} */ (code)] ?? `closed with code ${code}`;
    if (!opened && this.connections === 0) {
      const check = this.accessToken ? 'the access token (tokens expire)' : this.apiKey ? 'the API key' : 'whether it needs an API key';
      const error = new StreamscribeError(
        'connect',
        `Could not connect to ${this.server}: the server is not reachable or refused the connection ` +
          `(check the address and ${check}).`,
        { code, reason, fatal: true },
      );
      onFirstFail?.(error);
      return;
    }
    if (FATAL_CLOSE_CODES.has(code) || !this.reconnect.enabled) {
      this.fail(
        new StreamscribeError('server', `Server closed the stream: ${reason || meaning} (${code})`, {
          code,
          reason,
          fatal: true,
        }),
      );
      return;
    }
    this.retry(code, reason, meaning);
  }

  /**
   * A connection failed or dropped: try again after a backoff, or give up
   * after `reconnect.maxAttempts` failed attempts in a row.
   * @param {number} code the close code (0: no socket was opened)
   * @param {string} reason the server's close reason
   * @param {string} meaning what happened, when there is no reason
   */
  retry(code, reason, meaning) {
    this.attempt += 1;
    if (this.attempt > this.reconnect.maxAttempts) {
      this.fail(
        new StreamscribeError('connect', `Gave up reconnecting after ${this.reconnect.maxAttempts} attempts: ${reason || meaning}`, {
          code,
          reason,
          fatal: true,
        }),
      );
      return;
    }
    const base = Math.min(this.reconnect.maxDelayMs, this.reconnect.initialDelayMs * 2 ** (this.attempt - 1));
    const delayMs = Math.round(base * (0.8 + 0.4 * Math.random()));
    this.setState('reconnecting');
    this.emit('reconnecting', { attempt: this.attempt, delayMs, code, reason: reason || meaning });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.state === 'reconnecting') void this.attemptConnection();
    }, delayMs);
  }

  /** @param {StreamscribeError} error */
  fail(error) {
    this.emit('error', error);
    this.clearTimers();
    this.closeSocket();
    void this.capture.close();
    this.setState('closed');
    this.emit('close', { duration: this.duration, requestIds: [...this.requestIds], error });
  }

  clearTimers() {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.keepAliveTimer) clearInterval(this.keepAliveTimer);
    this.reconnectTimer = this.keepAliveTimer = null;
  }

  closeSocket() {
    // a first connection still opening fails: stop() was called meanwhile
    this.pendingConnect?.(new StreamscribeError('aborted', 'Stopped before the connection was open.'));
    this.pendingConnect = null;
    this.pendingAttempt = null;
    const socket = this.socket;
    this.socket = null;
    this.socketOpen = false;
    if (socket && socket.readyState <= 1) {
      try {
        socket.close(1000);
      } catch {
        // already closing
      }
    }
  }

  keepAlive() {
    if (!this.socketOpen || !this.socket) return;
    if (Date.now() - this.lastSendAt >= this.keepAliveMs) {
      this.socket.send(JSON.stringify({ type: 'KeepAlive' }));
      this.lastSendAt = Date.now();
    }
  }

  /** @param {WebSocket} socket @param {Int16Array} samples */
  transmit(socket, samples) {
    socket.send(int16ToLittleEndian(samples));
    this.lastSendAt = Date.now();
  }

  /**
   * A new connection's clock starts at 0: it starts with the oldest audio kept
   * (the first not yet covered by a final), so results map back to the
   * caller's clock by adding that sample's position.
   * @param {WebSocket} socket
   */
  resend(socket) {
    this.connectionOffset = this.replay.start;
    for (const chunk of this.replay.chunks) this.transmit(socket, chunk.samples);
    this.replay.markSent();
  }

  /** Drop audio that no reconnect will need; say so (once per connection) when audio never sent was lost. */
  trimReplay() {
    if (!this.replay.trim() || this.overflowReported) return;
    this.overflowReported = true;
    this.emit(
      'error',
      new StreamscribeError(
        'buffer-overflow',
        `Disconnected for more than ${this.reconnect.maxBufferSeconds} s: the oldest audio was dropped.`,
      ),
    );
  }

  /** @param {string} text */
  onMessage(text) {
    const event = serverEvent(text, this.connectionOffset / TARGET_RATE);
    if (!event) return;
    if (event.type === 'final') {
      this.replay.confirm(Math.round(event.payload.end * TARGET_RATE));
      this.trimReplay();
    } else if (event.type === 'metadata' && event.payload.request_id) {
      this.requestIds.push(String(event.payload.request_id));
    }
    this.emit(event.type, event.payload);
  }
}
