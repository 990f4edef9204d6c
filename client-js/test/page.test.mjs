// The caption page's (server/static/) helpers that need no DOM: clock times,
// what the page says about client errors, file names, the embed snippet. The
// page itself runs in Chromium in tests/e2e/test_browser.py.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { showEmbedSnippet } from '../../server/static/embed.js';
import { fileStamp } from '../../server/static/export.js';
import { describeError } from '../../server/static/messages.js';
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
  });

  it("gives the server's reason and code when the server stops the captions", () => {
    const error = { kind: 'server', message: 'Server closed the stream', code: 1008, reason: 'maximum session length reached' };
    assert.deepEqual(describeError(error, false), ['The server stopped the captions:', 'maximum session length reached (code 1008)']);
    assert.deepEqual(describeError({ kind: 'server', message: 'closed' }, false), ['The server stopped the captions:', 'closed']);
    assert.deepEqual(describeError({ message: 'odd' }, false), ['Something went wrong.', 'odd']);
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
