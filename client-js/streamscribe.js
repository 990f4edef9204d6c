// streamscribe browser client: live captions from a microphone or any
// MediaStream over streamscribe's Deepgram-compatible WS /v1/listen.
//
//   import { StreamscribeClient } from 'https://YOUR-SERVER/client/streamscribe.js';
//   const client = new StreamscribeClient({ apiKey: 'KEY' });
//   client.on('interim', (r) => show(r.transcript));
//   client.on('final', (r) => commit(r.transcript, r.start, r.end));
//   await client.start();          // microphone; or client.start(someMediaStream)
//   ...
//   await client.stop();           // flushes: the last finals arrive before it resolves
//
// No dependencies. Audio goes through an AudioWorklet (pcm-worklet.js), which
// resamples to 16 kHz and converts to int16 (pcm.js), in frames of 20-100 ms.
// When the connection drops the client reconnects with backoff; audio captured
// meanwhile, and audio sent but not yet covered by a final result, is kept and
// sent again, and result times stay on one clock that starts at start().

import { TARGET_RATE, int16ToLittleEndian } from './pcm.js';

/** Close codes after which reconnecting cannot help: the request itself is wrong. */
const FATAL_CLOSE_CODES = new Set([1000, 1007, 1008, 1009]);

const CLOSE_MEANINGS = {
  1000: 'the server ended the stream',
  1001: 'the server is going away',
  1006: 'the connection was lost',
  1007: 'the server could not read a message',
  1008: 'the server refused the request',
  1009: 'an audio frame was too large',
  1011: 'the server hit an error',
  1012: 'the server is restarting',
  1013: 'the server is busy; try again later',
};

/**
 * An error from the client. `kind` says what failed:
 * - `permission-denied`: the user or the browser blocked microphone access
 * - `no-microphone`: no audio input device (or none matching the constraints)
 * - `microphone-busy`: the device exists but could not be opened
 * - `unsupported`: this browser or page cannot capture audio (e.g. not https)
 * - `connect`: the server could not be reached, or refused the WebSocket (wrong API key, wrong URL)
 * - `server`: the server closed the stream with a reason (`code`, `reason`), or sent an `Error` message
 * - `buffer-overflow`: a connection gap was longer than `reconnect.maxBufferSeconds`; the oldest audio was dropped
 * - `audio`: the audio pipeline failed
 * - `aborted`: stop() was called before start() finished
 * `fatal` is true when the client stopped because of it.
 */
export class StreamscribeError extends Error {
  /**
   * @param {string} kind
   * @param {string} message
   * @param {{code?: number, reason?: string, fatal?: boolean, cause?: unknown}} [details]
   */
  constructor(kind, message, details = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'StreamscribeError';
    this.kind = kind;
    this.code = details.code;
    this.reason = details.reason ?? '';
    this.fatal = details.fatal ?? false;
  }
}

/**
 * The /v1/listen URL for a server base URL (http, https, ws or wss; a path
 * prefix is kept) and query parameters (arrays repeat the parameter).
 * @param {string | URL} server
 * @param {Record<string, string | number | boolean | Array<string | number> | undefined | null>} params
 * @returns {string}
 */
export function listenUrl(server, params) {
  const url = new URL(String(server));
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  else if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new TypeError(`server must be an http(s) or ws(s) URL: ${server}`);
  }
  if (!url.pathname.endsWith('/v1/listen')) {
    url.pathname = url.pathname.replace(/\/?$/, '/') + 'v1/listen';
  }
  url.search = '';
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null) continue;
    for (const item of Array.isArray(value) ? value : [value]) url.searchParams.append(key, String(item));
  }
  return url.toString();
}

function defaultServer() {
  // The server this module was loaded from (it is served under /client/).
  try {
    return new URL('../', import.meta.url).toString();
  } catch {
    return globalThis.location?.origin ?? 'http://127.0.0.1:8000';
  }
}

/**
 * A Results message with times on the caller's clock (seconds since start()).
 * @param {any} message
 * @param {number} offset seconds to add
 */
function toResult(message, offset) {
  const alternative = message.channel?.alternatives?.[0] ?? {};
  const start = Number(message.start ?? 0) + offset;
  const duration = Number(message.duration ?? 0);
  return {
    transcript: String(alternative.transcript ?? ''),
    isFinal: Boolean(message.is_final),
    speechFinal: Boolean(message.speech_final),
    fromFinalize: Boolean(message.from_finalize),
    start,
    end: start + duration,
    duration,
    confidence: Number(alternative.confidence ?? 0),
    channel: Array.isArray(message.channel_index) ? message.channel_index[0] : 0,
    words: (alternative.words ?? []).map((/** @type {any} */ w) => ({
      word: String(w.word ?? ''),
      punctuatedWord: String(w.punctuated_word ?? w.word ?? ''),
      start: Number(w.start ?? 0) + offset,
      end: Number(w.end ?? 0) + offset,
      confidence: Number(w.confidence ?? 0),
    })),
    raw: message,
  };
}

/**
 * Streams audio to streamscribe and emits results. See streamscribe.d.ts for
 * the options and events.
 */
export class StreamscribeClient {
  /** @param {import('./streamscribe').StreamscribeOptions} [options] */
  constructor(options = {}) {
    this.server = options.server ?? defaultServer();
    this.apiKey = options.apiKey ?? '';
    this.frameMs = options.frameMs ?? 50;
    if (!(this.frameMs >= 20 && this.frameMs <= 100)) throw new RangeError(`frameMs must be 20-100: ${this.frameMs}`);
    this.params = {
      encoding: 'linear16',
      sample_rate: TARGET_RATE,
      channels: 1,
      interim_results: true,
      vad_events: true,
      utterance_end_ms: 1000,
      ...(options.params ?? {}),
    };
    const reconnect = options.reconnect ?? {};
    this.reconnect = {
      enabled: reconnect.enabled ?? true,
      initialDelayMs: reconnect.initialDelayMs ?? 250,
      maxDelayMs: reconnect.maxDelayMs ?? 5000,
      maxAttempts: reconnect.maxAttempts ?? 30,
      maxBufferSeconds: reconnect.maxBufferSeconds ?? 120,
      replaySeconds: reconnect.replaySeconds ?? 30,
    };
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10000;
    this.stopTimeoutMs = options.stopTimeoutMs ?? 30000;
    this.keepAliveMs = options.keepAliveMs ?? 3000;
    this.audioConstraints = options.audio ?? {
      channelCount: 1,
      echoCancellation: true,
      noiseSuppression: false,
      autoGainControl: true,
    };
    this.workletUrl = options.workletUrl ?? new URL('./pcm-worklet.js', import.meta.url).toString();
    /** @type {typeof WebSocket} */
    this.WebSocketImpl = options.WebSocket ?? globalThis.WebSocket;
    /** @type {Map<string, Set<Function>>} */
    this.listeners = new Map();
    /** @type {import('./streamscribe').ClientState} */
    this.state = 'idle';
    this.resetStream();
  }

  resetStream() {
    /** samples captured since start (absolute index of the next one) */
    this.captured = 0;
    /** @type {{start: number, samples: Int16Array}[]} audio kept for (re)sending, in order */
    this.retained = [];
    /** absolute index up to which the current connection has been sent audio */
    this.sentUpTo = 0;
    /** absolute index up to which finals have covered the audio */
    this.acked = 0;
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
  }

  /**
   * Listen to an event; returns a function that removes the listener.
   * @param {string} type
   * @param {Function} listener
   * @returns {() => void}
   */
  on(type, listener) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type)?.add(listener);
    return () => this.off(type, listener);
  }

  /** @param {string} type @param {Function} listener */
  off(type, listener) {
    this.listeners.get(type)?.delete(listener);
  }

  /** @param {string} type @param {unknown} payload */
  emit(type, payload) {
    for (const listener of [...(this.listeners.get(type) ?? [])]) {
      try {
        listener(payload);
      } catch (error) {
        // A listener's bug must not break the stream.
        setTimeout(() => {
          throw error;
        });
      }
    }
  }

  /** @param {import('./streamscribe').ClientState} state */
  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', state);
  }

  /** Seconds of audio captured since start(). */
  get duration() {
    return this.captured / TARGET_RATE;
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
      await this.startCapture(source);
      if (this.stopRequested) throw new StreamscribeError('aborted', 'Stopped before the capture had started.');
      await this.connect();
    } catch (error) {
      await this.teardownCapture();
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
      this.openSocket(resolve, reject);
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
    this.retained.push({ start: this.captured, samples });
    this.captured += samples.length;
    if (this.socketOpen && this.socket) {
      this.transmit(this.socket, samples);
      this.sentUpTo = this.captured;
    }
    this.trimRetained();
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
    await this.flushCapture();
    await this.teardownCapture();
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

  // ---------------------------------------------------------------- capture

  /** @param {MediaStream} [source] */
  async startCapture(source) {
    let stream = source;
    this.ownsStream = false;
    if (!stream) {
      if (!globalThis.navigator?.mediaDevices?.getUserMedia) {
        throw new StreamscribeError(
          'unsupported',
          'This page cannot use the microphone: browsers allow it only on https:// pages or localhost.',
          { fatal: true },
        );
      }
      try {
        stream = await navigator.mediaDevices.getUserMedia({ audio: this.audioConstraints, video: false });
      } catch (error) {
        throw microphoneError(error);
      }
      this.ownsStream = true;
    }
    if (stream.getAudioTracks().length === 0) {
      throw new StreamscribeError('no-microphone', 'The media stream has no audio track.', { fatal: true });
    }
    this.stream = stream;
    const context = new AudioContext();
    this.context = context;
    try {
      await context.audioWorklet.addModule(this.workletUrl);
    } catch (error) {
      throw new StreamscribeError('audio', `Could not load the audio worklet from ${this.workletUrl}`, {
        fatal: true,
        cause: error,
      });
    }
    const node = new AudioWorkletNode(context, 'streamscribe-pcm', {
      numberOfInputs: 1,
      numberOfOutputs: 0,
      processorOptions: { frameMs: this.frameMs },
    });
    node.port.onmessage = (event) => this.onWorkletMessage(event.data);
    this.node = node;
    this.sourceNode = context.createMediaStreamSource(stream);
    this.sourceNode.connect(node);
    if (context.state === 'suspended') await context.resume();
    this.emit('capture', { sampleRate: context.sampleRate });
  }

  /** @param {any} data */
  onWorkletMessage(data) {
    if (data?.type === 'frame') {
      this.sendAudio(data.samples);
      this.emit('level', { rms: data.rms, peak: data.peak });
    } else if (data?.type === 'flushed') {
      this.onFlushed?.();
    }
  }

  async flushCapture() {
    const node = this.node;
    if (!node) return;
    const flushed = new Promise((resolve) => {
      this.onFlushed = resolve;
    });
    node.port.postMessage({ type: 'flush' });
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let timer;
    await Promise.race([flushed, new Promise((resolve) => (timer = setTimeout(resolve, 500)))]);
    clearTimeout(timer);
    this.onFlushed = null;
  }

  async teardownCapture() {
    try {
      this.sourceNode?.disconnect();
      this.node?.port.postMessage({ type: 'stop' });
      this.node?.disconnect();
    } catch {
      // already disconnected
    }
    if (this.ownsStream) for (const track of this.stream?.getTracks() ?? []) track.stop();
    const context = this.context;
    this.sourceNode = this.node = this.context = this.stream = undefined;
    if (context && context.state !== 'closed') {
      try {
        await context.close();
      } catch {
        // closing twice
      }
    }
  }

  // ------------------------------------------------------------- connection

  /**
   * @param {(value?: unknown) => void} [onFirstOpen]
   * @param {(error: unknown) => void} [onFirstFail]
   */
  openSocket(onFirstOpen, onFirstFail) {
    const url = listenUrl(this.server, this.params);
    const protocols = this.apiKey ? ['token', this.apiKey] : [];
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
      const error = new StreamscribeError(
        'connect',
        `Could not connect to ${this.server}: the server is not reachable or refused the connection ` +
          `(check the address${this.apiKey ? ' and the API key' : ' and whether it needs an API key'}).`,
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
      if (this.state === 'reconnecting') this.openSocket();
    }, delayMs);
  }

  /** @param {StreamscribeError} error */
  fail(error) {
    this.emit('error', error);
    this.clearTimers();
    this.closeSocket();
    void this.teardownCapture();
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
   * A new connection's clock starts at 0: it starts with the oldest retained
   * audio (the first not yet covered by a final), so results map back to the
   * caller's clock by adding that sample's position.
   * @param {WebSocket} socket
   */
  resend(socket) {
    this.connectionOffset = this.retained.length ? this.retained[0].start : this.captured;
    for (const chunk of this.retained) this.transmit(socket, chunk.samples);
    this.sentUpTo = this.captured;
  }

  /** Drop audio that no reconnect will need: covered by finals, older than the replay window, or over the cap. */
  trimRetained() {
    const replayFrom = Math.max(this.acked, this.sentUpTo - this.reconnect.replaySeconds * TARGET_RATE);
    this.dropBefore(Math.min(replayFrom, this.sentUpTo));
    const cap = this.captured - this.reconnect.maxBufferSeconds * TARGET_RATE;
    if (this.retained.length && this.retained[0].start < cap) {
      const droppedUnsent = cap > this.sentUpTo;
      this.dropBefore(cap);
      if (droppedUnsent && !this.overflowReported) {
        this.overflowReported = true;
        this.emit(
          'error',
          new StreamscribeError(
            'buffer-overflow',
            `Disconnected for more than ${this.reconnect.maxBufferSeconds} s: the oldest audio was dropped.`,
          ),
        );
      }
    }
  }

  /** @param {number} index absolute sample index */
  dropBefore(index) {
    while (this.retained.length) {
      const chunk = this.retained[0];
      const end = chunk.start + chunk.samples.length;
      if (end <= index) {
        this.retained.shift();
      } else {
        if (chunk.start < index) {
          this.retained[0] = { start: index, samples: chunk.samples.subarray(index - chunk.start) };
        }
        break;
      }
    }
  }

  /** @param {string} text */
  onMessage(text) {
    /** @type {any} */
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    const offset = this.connectionOffset / TARGET_RATE;
    switch (message.type) {
      case 'Results': {
        const result = toResult(message, offset);
        if (result.isFinal) {
          this.acked = Math.max(this.acked, Math.round(result.end * TARGET_RATE));
          this.trimRetained();
          this.emit('final', result);
        } else {
          this.emit('interim', result);
        }
        break;
      }
      case 'SpeechStarted':
        this.emit('speechstarted', { timestamp: Number(message.timestamp ?? 0) + offset, raw: message });
        break;
      case 'UtteranceEnd':
        this.emit('utteranceend', { lastWordEnd: Number(message.last_word_end ?? 0) + offset, raw: message });
        break;
      case 'Metadata':
        if (message.request_id) this.requestIds.push(String(message.request_id));
        this.emit('metadata', message);
        break;
      case 'Error':
        this.emit(
          'error',
          new StreamscribeError('server', `Server error: ${message.description ?? message.message ?? 'unknown'}`),
        );
        break;
      default:
        break;
    }
  }
}

/** @param {unknown} error */
function microphoneError(error) {
  const name = /** @type {{name?: string}} */ (error)?.name ?? '';
  if (name === 'NotAllowedError' || name === 'SecurityError' || name === 'PermissionDeniedError') {
    return new StreamscribeError(
      'permission-denied',
      'Microphone access was blocked. Allow the microphone for this site in the browser (the icon in the address bar) and try again.',
      { fatal: true, cause: error },
    );
  }
  if (name === 'NotFoundError' || name === 'OverconstrainedError' || name === 'DevicesNotFoundError') {
    return new StreamscribeError('no-microphone', 'No microphone was found. Connect one and try again.', {
      fatal: true,
      cause: error,
    });
  }
  if (name === 'NotReadableError' || name === 'AbortError') {
    return new StreamscribeError(
      'microphone-busy',
      'The microphone could not be opened: another application may be using it.',
      { fatal: true, cause: error },
    );
  }
  return new StreamscribeError('audio', `Could not capture audio: ${error}`, { fatal: true, cause: error });
}

// ------------------------------------------------------------ transcripts

/**
 * Collects final results and exports them as plain text, SRT or WebVTT.
 * Long finals are split into cues of at most `maxCueChars` characters and
 * `maxCueSeconds` using the word times.
 */
export class Transcript {
  /** @param {{maxCueChars?: number, maxCueSeconds?: number}} [options] */
  constructor(options = {}) {
    this.maxCueChars = options.maxCueChars ?? 84;
    this.maxCueSeconds = options.maxCueSeconds ?? 6;
    /** @type {{text: string, start: number, end: number, words: {punctuatedWord: string, start: number, end: number}[]}[]} */
    this.segments = [];
  }

  /** @param {{transcript: string, start: number, end: number, words?: {punctuatedWord: string, start: number, end: number}[]}} result */
  add(result) {
    const text = result.transcript.trim();
    if (!text) return;
    this.segments.push({ text, start: result.start, end: result.end, words: result.words ?? [] });
  }

  clear() {
    this.segments = [];
  }

  get isEmpty() {
    return this.segments.length === 0;
  }

  /** One line per final. */
  toText() {
    return this.segments.map((s) => s.text).join('\n') + (this.segments.length ? '\n' : '');
  }

  /** @returns {{start: number, end: number, text: string}[]} */
  cues() {
    const cues = [];
    for (const segment of this.segments) {
      if (segment.words.length === 0) {
        cues.push({ start: segment.start, end: segment.end, text: segment.text });
        continue;
      }
      /** @type {typeof segment.words} */
      let current = [];
      const push = () => {
        if (!current.length) return;
        cues.push({
          start: current[0].start,
          end: current[current.length - 1].end,
          text: current.map((w) => w.punctuatedWord).join(' '),
        });
        current = [];
      };
      for (const word of segment.words) {
        const text = [...current.map((w) => w.punctuatedWord), word.punctuatedWord].join(' ');
        if (current.length && (text.length > this.maxCueChars || word.end - current[0].start > this.maxCueSeconds)) push();
        current.push(word);
      }
      push();
    }
    // cues must not overlap and must have positive length
    for (let i = 0; i < cues.length; i++) {
      if (i > 0 && cues[i].start < cues[i - 1].end) cues[i].start = cues[i - 1].end;
      if (cues[i].end <= cues[i].start) cues[i].end = cues[i].start + 0.5;
    }
    return cues;
  }

  toSrt() {
    return this.cues()
      .map((cue, i) => `${i + 1}\n${timestamp(cue.start, ',')} --> ${timestamp(cue.end, ',')}\n${wrap(cue.text)}\n`)
      .join('\n');
  }

  toVtt() {
    const body = this.cues()
      .map((cue) => `${timestamp(cue.start, '.')} --> ${timestamp(cue.end, '.')}\n${wrap(cue.text)}\n`)
      .join('\n');
    return `WEBVTT\n\n${body}`;
  }
}

/**
 * HH:MM:SS,mmm (SRT) or HH:MM:SS.mmm (WebVTT).
 * @param {number} seconds
 * @param {',' | '.'} separator
 */
export function timestamp(seconds, separator) {
  const ms = Math.max(0, Math.round(seconds * 1000));
  const h = Math.floor(ms / 3600000);
  const m = Math.floor((ms % 3600000) / 60000);
  const s = Math.floor((ms % 60000) / 1000);
  const pad = (/** @type {number} */ n, /** @type {number} */ w) => String(n).padStart(w, '0');
  return `${pad(h, 2)}:${pad(m, 2)}:${pad(s, 2)}${separator}${pad(ms % 1000, 3)}`;
}

/** Two caption lines at most, broken near the middle. @param {string} text */
function wrap(text) {
  if (text.length <= 42) return text;
  const middle = Math.floor(text.length / 2);
  let cut = text.lastIndexOf(' ', middle);
  const after = text.indexOf(' ', middle);
  if (cut < 0 || (after >= 0 && after - middle < middle - cut)) cut = after;
  if (cut < 0) return text;
  return `${text.slice(0, cut)}\n${text.slice(cut + 1)}`;
}
