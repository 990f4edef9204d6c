// The wire side of the streamscribe browser client: the WS /v1/listen URL and
// its query parameters, and the server's JSON messages as client events.

import { TARGET_RATE } from './pcm.js';
import { StreamscribeError } from './errors.js';

/**
 * The query parameters the client sends: 16 kHz mono linear16 with interim
 * results and VAD events, overridden or extended by `params`.
 * @param {Record<string, string | number | boolean | Array<string | number> | undefined | null>} [params]
 */
export function listenParams(params) {
  return {
    encoding: 'linear16',
    sample_rate: TARGET_RATE,
    channels: 1,
    interim_results: true,
    vad_events: true,
    utterance_end_ms: 1000,
    ...(params ?? {}),
  };
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

/**
 * A Results message with times on the caller's clock (seconds since start()).
 * @param {any} message
 * @param {number} offset seconds to add
 */
export function toResult(message, offset) {
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
 * The client event for a text message from the server (`interim`, `final`,
 * `speechstarted`, `utteranceend`, `metadata`, `error`), with times on the
 * caller's clock; null for text that is not JSON and for other message types.
 * @param {string} text
 * @param {number} offset seconds to add: where the connection's clock started
 * @returns {{type: string, payload: any} | null}
 */
export function serverEvent(text, offset) {
  /** @type {any} */
  let message;
  try {
    message = JSON.parse(text);
  } catch {
    return null;
  }
  switch (message.type) {
    case 'Results': {
      const result = toResult(message, offset);
      return { type: result.isFinal ? 'final' : 'interim', payload: result };
    }
    case 'SpeechStarted':
      return { type: 'speechstarted', payload: { timestamp: Number(message.timestamp ?? 0) + offset, raw: message } };
    case 'UtteranceEnd':
      return { type: 'utteranceend', payload: { lastWordEnd: Number(message.last_word_end ?? 0) + offset, raw: message } };
    case 'Metadata':
      return { type: 'metadata', payload: message };
    case 'Error':
      return {
        type: 'error',
        payload: new StreamscribeError('server', `Server error: ${message.description ?? message.message ?? 'unknown'}`),
      };
    default:
      return null;
  }
}
