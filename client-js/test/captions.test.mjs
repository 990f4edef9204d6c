// Caption cues of the page's transcript: cut after a sentence, never after an
// abbreviation (the same rule as the server's SRT/WebVTT, server/formats.py).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Transcript } from '../streamscribe.js';
import { endsSentence } from '../transcript.js';

/** A final whose words are one second apart. @param {string} text */
function final(text) {
  const words = text.split(' ').map((punctuatedWord, i) => ({ punctuatedWord, start: i, end: i + 0.8 }));
  return { transcript: text, start: 0, end: words.length, words };
}

describe('caption cues', () => {
  it('are cut after a sentence, not after Mr. or other abbreviations', () => {
    const transcript = new Transcript({ maxCueSeconds: 60 });
    transcript.add(final('Hello Mr. Smith and Dr. J. Doe of the U.S. Navy, e.g. here. How are you? Fine.'));
    assert.deepEqual(
      transcript.cues().map((cue) => cue.text),
      ['Hello Mr. Smith and Dr. J. Doe of the U.S. Navy, e.g. here.', 'How are you?', 'Fine.'],
    );
  });

  it('know sentence ends from abbreviations', () => {
    for (const word of ['you.', 'Smith.', 'Why?', 'Go!', '"Go!"', 'it.)', 'so...', 'well…', 'a.']) {
      assert.equal(endsSentence(word), true, word);
    }
    for (const word of ['Mr.', 'mrs.', 'Ms.', 'Dr.', 'St.', 'Jr.', 'Sr.', 'Prof.', 'vs.', 'etc.', 'e.g.', 'i.e.', 'U.S.', 'J.', '(Mr.', 'word', 'e.g.,']) {
      assert.equal(endsSentence(word), false, word);
    }
  });
});
