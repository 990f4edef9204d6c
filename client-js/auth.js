// How the client authenticates on WS /v1/listen (browsers cannot set headers,
// so the credential travels as a subprotocol pair): an API key as `token, KEY`,
// a short-lived access token (POST /v1/auth/grant) as `bearer, TOKEN`. The
// accessToken option is a token, or a function asked for one before every
// connection attempt (a reconnect after the token expired needs a fresh one).

import { StreamscribeError } from './errors.js';

/** @typedef {import('./streamscribe').AccessToken} AccessToken */

/**
 * A token from what an accessToken function gave: the token, or the grant's
 * answer (`{access_token, expires_in}`) as the page's backend passed it on.
 * @param {unknown} value
 * @returns {string} '' for no token
 */
function tokenOf(value) {
  if (typeof value === 'string') return value.trim();
  const granted = /** @type {{access_token?: unknown} | null} */ (value)?.access_token;
  return typeof granted === 'string' ? granted.trim() : '';
}

/** @param {unknown} error */
function describe(error) {
  return error instanceof Error ? error.message || error.name : String(error);
}

/**
 * Ask the accessToken function for a token, for at most `timeoutMs`.
 * @param {() => unknown} getToken
 * @param {number} timeoutMs
 * @returns {Promise<string>}
 */
async function askForToken(getToken, timeoutMs) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  let answer;
  try {
    answer = await Promise.race([Promise.resolve().then(getToken), late]);
  } catch (error) {
    throw new StreamscribeError('access-token', `Could not get an access token: ${describe(error)}`, {
      fatal: true,
      cause: error,
    });
  } finally {
    clearTimeout(timer);
  }
  const token = tokenOf(answer);
  if (!token) {
    throw new StreamscribeError(
      'access-token',
      `Could not get an access token: the accessToken function returned ${answer === '' ? 'an empty string' : typeof answer}, not a token.`,
      { fatal: true },
    );
  }
  return token;
}

/**
 * The subprotocols for the next connection attempt: `bearer, TOKEN` when an
 * access token is set (it wins over an API key), else `token, KEY`, else none.
 * Rejects with a StreamscribeError of kind `access-token` when an accessToken
 * function throws, rejects, returns no token or takes longer than `timeoutMs`.
 * @param {{accessToken: AccessToken | null, apiKey: string}} credentials
 * @param {number} timeoutMs
 * @returns {Promise<string[]>}
 */
export async function credentialProtocols({ accessToken, apiKey }, timeoutMs) {
  if (typeof accessToken === 'function') return ['bearer', await askForToken(accessToken, timeoutMs)];
  if (accessToken) return ['bearer', accessToken];
  return apiKey ? ['token', apiKey] : [];
}

/**
 * The accessToken option checked: a non-empty string, a function, or null (none).
 * @param {unknown} value
 * @returns {AccessToken | null}
 */
export function accessTokenOption(value) {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value === 'string') return value.trim() || null;
  if (typeof value === 'function') return /** @type {AccessToken} */ (value);
  throw new TypeError(`accessToken must be a string or a function that returns one (or a Promise of one), not ${typeof value}`);
}
