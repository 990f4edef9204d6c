// What the page says about the live client's errors: a title and what to do.

/**
 * @param {{kind?: string, message: string, code?: number, reason?: string}} error
 *   a StreamscribeError, or an error of the page's own with a `kind`
 * @param {'key' | 'token' | '' | boolean} credential what the key field holds (for `connect`);
 *   true: an API key, false: nothing
 * @returns {[string, string]} title, detail
 */
export function describeError(error, credential) {
  switch (error.kind) {
    case 'permission-denied':
      return [
        'Microphone access is blocked.',
        'Allow the microphone for this site (the icon at the left of the address bar), then press Start captions again.',
      ];
    case 'no-microphone':
      return ['No microphone found.', 'Connect a microphone, or choose a browser tab as the audio source.'];
    case 'microphone-busy':
      return ['The microphone is busy.', 'Close other apps that use it and try again.'];
    case 'unsupported':
      return ['Audio capture is not available here.', error.message];
    case 'connect':
      return [
        'Cannot connect to the caption server.',
        credential === 'token'
          ? 'Check that the server is running and that the access token is valid: tokens expire, get a fresh one.'
          : credential
            ? 'Check that the server is running and that the API key in Connection settings is right.'
            : 'Check that the server is running. If it requires an API key, enter it in Connection settings.',
      ];
    case 'server':
      return ['The server stopped the captions:', error.reason ? `${error.reason} (code ${error.code})` : error.message];
    case 'buffer-overflow':
      return ['Connection lost for a long time.', 'Some audio from the gap could not be kept and is missing from the captions.'];
    default:
      return ['Something went wrong.', error.message];
  }
}
