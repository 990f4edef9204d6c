// The caption page's (server/static/) helpers that need no DOM: clock times,
// what the page says about client errors, file names, the embed snippet, an
// API key or an access token in the key field or the URL fragment. The
// page itself runs in Chromium in tests/e2e/test_browser.py.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { authorizationHeaders, clientCredentials, credentialKind, fragmentToken } from '../../server/static/credentials.js';
import { showEmbedSnippet } from '../../server/static/embed.js';
import { fileStamp } from '../../server/static/export.js';
import { describeError } from '../../server/static/messages.js';
import { Settings } from '../../server/static/settings.js';
import { clockText } from '../../server/static/ui.js';

describe('caption page', () => {
  it('shows clock times as m:ss, and h:mm:ss from an hour on', () => {
    assert.equal(clockText(0), '0:00');
    assert.equal(clockText(-3), '0:00');
    assert.equal(clockText(59.9), '0:59');
    assert.equal(clockText(61), '1:01');
    assert.equal(clockText(3661.5), '1:01:01');
  });

  it('explains a connection failure by whether an API key is set', () => {
    const error = { kind: 'connect', message: 'x' };
    assert.match(describeError(error, true)[1], /API key in Connection settings is right/);
    assert.match(describeError(error, false)[1], /If it requires an API key, enter it/);
    assert.match(describeError(error, 'key')[1], /API key in Connection settings is right/);
    assert.match(describeError(error, '')[1], /If it requires an API key, enter it/);
    assert.match(describeError(error, 'token')[1], /access token is valid: tokens expire/);
  });

  it('takes a value starting with sst. as an access token, anything else as an API key', () => {
    const token = 'sst.eyJuYW1lIjoiYSJ9.c2ln';
    assert.equal(credentialKind(token), 'token');
    assert.equal(credentialKind('my-key'), 'key');
    assert.equal(credentialKind('sst'), 'key');
    assert.equal(credentialKind(''), '');
    assert.deepEqual(clientCredentials(token), { accessToken: token });
    assert.deepEqual(clientCredentials('my-key'), { apiKey: 'my-key' });
    assert.deepEqual(clientCredentials(''), {});
    assert.deepEqual(authorizationHeaders(token), { Authorization: `Bearer ${token}` });
    assert.deepEqual(authorizationHeaders('my-key'), { Authorization: 'Token my-key' });
    assert.deepEqual(authorizationHeaders(''), {});
  });

  it('reads an access token from the URL fragment, and nothing else', () => {
    assert.equal(fragmentToken('#token=sst.abc-_.def'), 'sst.abc-_.def');
    assert.equal(fragmentToken('#lang=de&token=sst.abc'), 'sst.abc');
    assert.equal(fragmentToken('#token=sst.a%2Bb'), 'sst.a+b');
    assert.equal(fragmentToken('#token=my-key'), '');
    assert.equal(fragmentToken('#token='), '');
    assert.equal(fragmentToken(''), '');
    assert.equal(fragmentToken('#section'), '');
  });

  it("gives the server's reason and code when the server stops the captions", () => {
    const error = { kind: 'server', message: 'Server closed the stream', code: 1008, reason: 'maximum session length reached' };
    assert.deepEqual(describeError(error, false), ['The server stopped the captions:', 'maximum session length reached (code 1008)']);
    assert.deepEqual(describeError({ kind: 'server', message: 'closed' }, false), ['The server stopped the captions:', 'closed']);
    assert.deepEqual(describeError({ message: 'odd' }, false), ['Something went wrong.', 'odd']);
  });

  it('uses a token from the URL fragment in the key field, and keeps keys but never tokens', () => {
    const kept = new Map([['streamscribe.apiKey', 'stored-key']]);
    const original = Object.getOwnPropertyDescriptor(globalThis, 'localStorage');
    Object.defineProperty(globalThis, 'localStorage', {
      configurable: true,
      value: { getItem: (name) => kept.get(name) ?? null, setItem: (name, value) => kept.set(name, value) },
    });
    const field = () => {
      const listeners = {};
      return { value: '', addEventListener: (type, fn) => (listeners[type] = fn), fire: (type) => listeners[type]?.() };
    };
    try {
      const elements = { details: { open: false }, form: field(), apiKey: field(), language: field() };
      const settings = new Settings(/** @type {any} */ (elements));
      settings.bind('#token=sst.from-url');
      assert.equal(settings.credential, 'sst.from-url');
      assert.equal(settings.credentialKind, 'token');
      elements.apiKey.fire('change');
      assert.equal(kept.get('streamscribe.apiKey'), 'stored-key');
      elements.apiKey.value = ' typed-key ';
      elements.apiKey.fire('change');
      assert.equal(kept.get('streamscribe.apiKey'), 'typed-key');
      elements.apiKey.value = 'sst.typed';
      elements.apiKey.fire('change');
      assert.equal(kept.get('streamscribe.apiKey'), 'typed-key');

      const again = { details: { open: false }, form: field(), apiKey: field(), language: field() };
      new Settings(/** @type {any} */ (again)).bind('');
      assert.equal(again.apiKey.value, 'typed-key');
    } finally {
      if (original) Object.defineProperty(globalThis, 'localStorage', original);
      else delete globalThis.localStorage;
    }
  });

  it('names caption files after the local date and time', () => {
    assert.equal(fileStamp(new Date(2024, 0, 5, 9, 7)), 'captions-2024-01-05-0907');
  });

  it('shows the import line of the client served next to the page', () => {
    const element = { textContent: '' };
    showEmbedSnippet(/** @type {any} */ (element), 'https://stt.example.com/base/?x=1');
    assert.equal(element.textContent, "import { StreamscribeClient } from 'https://stt.example.com/base/client/streamscribe.js'");
  });
});
