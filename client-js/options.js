// Options of the streamscribe browser client, with their defaults (documented
// in streamscribe.d.ts, StreamscribeOptions).

import { accessTokenOption } from './auth.js';
import { listenParams } from './protocol.js';

function defaultServer() {
  // The server this module was loaded from (it is served under /client/).
  try {
    return new URL('../', import.meta.url).toString();
  } catch {
    return globalThis.location?.origin ?? 'http://127.0.0.1:8000';
  }
}

/**
 * The client's settings: `options` with the defaults filled in.
 * @param {import('./streamscribe').StreamscribeOptions} options
 */
export function clientSettings(options) {
  const frameMs = options.frameMs ?? 50;
  if (!(frameMs >= 20 && frameMs <= 100)) throw new RangeError(`frameMs must be 20-100: ${frameMs}`);
  const reconnect = options.reconnect ?? {};
  return {
    server: options.server ?? defaultServer(),
    apiKey: options.apiKey ?? '',
    /** a token, or a function asked for one before every connection attempt; wins over apiKey (auth.js) */
    accessToken: accessTokenOption(options.accessToken),
    frameMs,
    params: listenParams(options.params),
    reconnect: {
      enabled: reconnect.enabled ?? true,
      initialDelayMs: reconnect.initialDelayMs ?? 250,
      maxDelayMs: reconnect.maxDelayMs ?? 5000,
      maxAttempts: reconnect.maxAttempts ?? 30,
      maxBufferSeconds: reconnect.maxBufferSeconds ?? 120,
      replaySeconds: reconnect.replaySeconds ?? 30,
    },
    connectTimeoutMs: options.connectTimeoutMs ?? 10000,
    stopTimeoutMs: options.stopTimeoutMs ?? 30000,
    keepAliveMs: options.keepAliveMs ?? 3000,
    /** @type {MediaTrackConstraints} */
    audioConstraints: options.audio ?? {
      channelCount: 1,
      echoCancellation: true,
      noiseSuppression: false,
      autoGainControl: true,
    },
    workletUrl: options.workletUrl ?? new URL('./pcm-worklet.js', import.meta.url).toString(),
    /** @type {typeof WebSocket} */
    WebSocketImpl: options.WebSocket ?? globalThis.WebSocket,
  };
}
