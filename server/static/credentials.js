// The key field's value: an API key, or a short-lived access token (`sst.…`,
// from POST /v1/auth/grant), and how each is sent. A token can also come in
// the page's URL fragment, `#token=sst.…` (a fragment never reaches the
// server or its logs). No DOM: node's test runner tests it.

export const TOKEN_PREFIX = 'sst.';

/**
 * What the key field holds.
 * @param {string} value the field's value, trimmed
 * @returns {'token' | 'key' | ''} '' for nothing
 */
export function credentialKind(value) {
  if (!value) return '';
  return value.startsWith(TOKEN_PREFIX) ? 'token' : 'key';
}

/**
 * The StreamscribeClient options for it: a token as `accessToken` (the
 * `bearer` subprotocol), a key as `apiKey` (the `token` subprotocol).
 * @param {string} value
 * @returns {{accessToken?: string, apiKey?: string}}
 */
export function clientCredentials(value) {
  const kind = credentialKind(value);
  if (kind === 'token') return { accessToken: value };
  if (kind === 'key') return { apiKey: value };
  return {};
}

/**
 * The headers of an upload: `Authorization: Bearer TOKEN` for a token,
 * `Authorization: Token KEY` for a key.
 * @param {string} value
 * @returns {Record<string, string>}
 */
export function authorizationHeaders(value) {
  const kind = credentialKind(value);
  if (kind === 'token') return { Authorization: `Bearer ${value}` };
  if (kind === 'key') return { Authorization: `Token ${value}` };
  return {};
}

/**
 * The token of a URL fragment such as `#token=sst.…` (other parameters may
 * follow, `&`-separated); '' when there is none, or it is not a token.
 * @param {string} hash `location.hash`
 */
export function fragmentToken(hash) {
  const token = (new URLSearchParams(hash.replace(/^#/, '')).get('token') ?? '').trim();
  return credentialKind(token) === 'token' ? token : '';
}
