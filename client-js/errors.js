// Errors of the streamscribe browser client: StreamscribeError, what the
// server's WebSocket close codes mean, and microphone failures in words.

/** Close codes after which reconnecting cannot help: the request itself is wrong. */
export const FATAL_CLOSE_CODES = new Set([1000, 1007, 1008, 1009]);

/** What the close codes mean, for messages when the server gave no reason. */
export const CLOSE_MEANINGS = {
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
 * - `connect`: the server could not be reached, or refused the WebSocket (wrong API key or token, wrong URL)
 * - `access-token`: the accessToken function threw, rejected, returned no token or did not answer in time
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
 * The StreamscribeError for a getUserMedia() failure.
 * @param {unknown} error
 */
export function microphoneError(error) {
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
