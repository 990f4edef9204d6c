// Types for streamscribe.js, the browser client's entry point: what it exports
// (re-exported from client.js, errors.js, protocol.js and transcript.js).
// pcm.js (PCM helpers) has its own, pcm.d.ts.

export type ClientState = 'idle' | 'starting' | 'connecting' | 'live' | 'reconnecting' | 'stopping' | 'closed';

/**
 * A short-lived access token (`sst.…`, from the server's `POST /v1/auth/grant`), or a
 * function that gets one: called before every connection attempt, reconnects
 * included, so that an expired token is replaced. It may return the token, the
 * grant's answer `{access_token, expires_in}`, or a Promise of either.
 */
export type AccessToken = string | (() => string | { access_token: string } | PromiseLike<string | { access_token: string }>);

export interface StreamscribeOptions {
  /** Server base URL (http, https, ws or wss; a path prefix is kept). Default: the server this module was loaded from. */
  server?: string;
  /** API key, sent as the WebSocket subprotocol pair `token, KEY` (browsers cannot set headers). */
  apiKey?: string;
  /**
   * Access token, or a function that gets one (see AccessToken), sent as the subprotocol pair
   * `bearer, TOKEN`; used instead of `apiKey` when both are set. A function that throws, rejects,
   * returns no token or takes longer than `connectTimeoutMs` fails the first connection with an
   * `access-token` error; on a reconnect it counts as a failed attempt (retried with backoff).
   */
  accessToken?: AccessToken;
  /**
   * Extra /v1/listen query parameters, e.g. `{ language: 'de', endpointing: 300, keyterm: ['Kubernetes'] }`.
   * Defaults sent: encoding=linear16, sample_rate=16000, channels=1, interim_results=true,
   * vad_events=true, utterance_end_ms=1000.
   */
  params?: Record<string, string | number | boolean | Array<string | number> | null | undefined>;
  /** Audio frame length sent per WebSocket message, 20-100 ms. Default 50. */
  frameMs?: number;
  /** getUserMedia audio constraints for the microphone. */
  audio?: MediaTrackConstraints;
  reconnect?: {
    /** Default true. */
    enabled?: boolean;
    /** First delay; doubles per failed attempt (with +-20 % jitter). Default 250 ms. */
    initialDelayMs?: number;
    /** Default 5000 ms. */
    maxDelayMs?: number;
    /** Consecutive failed attempts before giving up with a `connect` error. Default 30. */
    maxAttempts?: number;
    /** Most audio kept while disconnected; older audio is dropped (a `buffer-overflow` error). Default 120 s. */
    maxBufferSeconds?: number;
    /** Sent audio not yet covered by a final that is kept for resending after a drop. Default 30 s. */
    replaySeconds?: number;
  };
  /** Give up on a connection attempt (and on an accessToken function) after this long. Default 10000 ms. */
  connectTimeoutMs?: number;
  /** stop() waits this long at most for the last finals. Default 30000 ms. */
  stopTimeoutMs?: number;
  /** Send KeepAlive when no audio was sent for this long. Default 3000 ms. */
  keepAliveMs?: number;
  /** Where the AudioWorklet module is. Default: pcm-worklet.js next to this module. */
  workletUrl?: string;
  /** WebSocket implementation (for tests). Default: globalThis.WebSocket. */
  WebSocket?: typeof WebSocket;
}

export interface Word {
  word: string;
  punctuatedWord: string;
  /** Seconds since start(), on the caller's clock (monotonic across reconnects). */
  start: number;
  end: number;
  confidence: number;
}

export interface TranscriptResult {
  transcript: string;
  isFinal: boolean;
  /** The final that ended an utterance by endpointing silence. */
  speechFinal: boolean;
  fromFinalize: boolean;
  /** Seconds since start(), on the caller's clock (monotonic across reconnects). */
  start: number;
  end: number;
  duration: number;
  confidence: number;
  channel: number;
  words: Word[];
  /** The server's Results message as received (times on that connection's clock). */
  raw: unknown;
}

export type ErrorKind =
  | 'permission-denied'
  | 'no-microphone'
  | 'microphone-busy'
  | 'unsupported'
  | 'connect'
  | 'access-token'
  | 'server'
  | 'buffer-overflow'
  | 'audio'
  | 'aborted';

export class StreamscribeError extends Error {
  constructor(kind: ErrorKind, message: string, details?: { code?: number; reason?: string; fatal?: boolean; cause?: unknown });
  readonly kind: ErrorKind;
  /** WebSocket close code, when the server closed the stream. */
  readonly code?: number;
  /** The server's close reason. */
  readonly reason: string;
  /** True when the client stopped because of it. */
  readonly fatal: boolean;
}

export interface ClientEvents {
  interim: TranscriptResult;
  final: TranscriptResult;
  speechstarted: { timestamp: number; raw: unknown };
  utteranceend: { lastWordEnd: number; raw: unknown };
  metadata: Record<string, unknown>;
  /** Fatal errors (then `close`) and warnings (`fatal: false`). */
  error: StreamscribeError;
  state: ClientState;
  open: { url: string; connections: number };
  /** `code` 0: no connection was made (the accessToken function failed; `reason` says why). */
  reconnecting: { attempt: number; delayMs: number; code: number; reason: string };
  reconnected: { connections: number; offset: number };
  /** Per audio frame: RMS and peak of the captured signal, 0-1. */
  level: { rms: number; peak: number };
  capture: { sampleRate: number };
  close: { duration: number; requestIds: string[]; error?: StreamscribeError };
}

export class StreamscribeClient {
  constructor(options?: StreamscribeOptions);
  readonly state: ClientState;
  /** Seconds of audio captured since start(). */
  readonly duration: number;
  on<K extends keyof ClientEvents>(type: K, listener: (event: ClientEvents[K]) => void): () => void;
  off<K extends keyof ClientEvents>(type: K, listener: (event: ClientEvents[K]) => void): void;
  /**
   * Capture from the microphone (no argument) or any MediaStream with an audio
   * track (a tab, `video.captureStream()`), and stream it. Resolves when audio
   * flows and the connection is open; rejects with a StreamscribeError.
   */
  start(source?: MediaStream): Promise<void>;
  /** Stop capturing and wait for the last finals. */
  stop(): Promise<void>;
  /** Open the connection without capturing; feed audio with sendAudio(). */
  connect(): Promise<void>;
  /** Stream 16 kHz mono int16 samples. */
  sendAudio(samples: Int16Array): void;
}

export class Transcript {
  constructor(options?: { maxCueChars?: number; maxCueSeconds?: number });
  segments: { text: string; start: number; end: number; words: Pick<Word, 'punctuatedWord' | 'start' | 'end'>[] }[];
  add(result: Pick<TranscriptResult, 'transcript' | 'start' | 'end'> & { words?: Pick<Word, 'punctuatedWord' | 'start' | 'end'>[] }): void;
  clear(): void;
  readonly isEmpty: boolean;
  cues(): { start: number; end: number; text: string }[];
  toText(): string;
  toSrt(): string;
  toVtt(): string;
}

export function listenUrl(
  server: string | URL,
  params: Record<string, string | number | boolean | Array<string | number> | null | undefined>,
): string;

/** HH:MM:SS,mmm (separator ',', SRT) or HH:MM:SS.mmm (separator '.', WebVTT). */
export function timestamp(seconds: number, separator: ',' | '.'): string;
