// Transcripts of the streamscribe browser client: collect final results and
// export them as plain text, SRT or WebVTT.

// A period after these ends a word, not a sentence ("Mr. Smith"): cues must not be cut there.
// The same list is in server/formats.py (the server's SRT and WebVTT).
const ABBREVIATIONS = new Set(
  'mr mrs ms dr prof rev hon gen col lt capt sgt st mt jr sr vs etc'.split(' '),
);
// `J.` or `U.S.`, `e.g.`, `a.m.`: a capital letter, or single letters joined by dots.
const INITIALS = /^(?:[A-Z]|[A-Za-z](?:\.[A-Za-z])+)$/;

/**
 * Whether a sentence ends with this word: `you.`, `Why?`, `"Go!"`, but not `Mr.`, `e.g.` or `J.`.
 * @param {string} word
 */
export function endsSentence(word) {
  const text = word.replace(/["')\]\u201d\u2019]+$/, '');
  if (!/[.?!\u2026]$/.test(text)) return false;
  if (!text.endsWith('.') || text.endsWith('..')) return true; // ? ! … and an ellipsis of dots
  const body = text.slice(0, -1).replace(/^["'(\[\u201c\u2018]+/, '');
  return !ABBREVIATIONS.has(body.toLowerCase()) && !INITIALS.test(body);
}

/**
 * Collects final results and exports them as plain text, SRT or WebVTT.
 * Long finals are split into cues of at most `maxCueChars` characters and
 * `maxCueSeconds` using the word times, and after each sentence (as the
 * server's SRT and WebVTT are).
 */
export class Transcript {
  /** @param {{maxCueChars?: number, maxCueSeconds?: number}} [options] */
  constructor(options = {}) {
    this.maxCueChars = options.maxCueChars ?? 84;
    this.maxCueSeconds = options.maxCueSeconds ?? 6;
    /** @type {{text: string, start: number, end: number, words: {punctuatedWord: string, start: number, end: number}[]}[]} */
    this.segments = [];
  }

  /** @param {{transcript: string, start: number, end: number, words?: {punctuatedWord: string, start: number, end: number}[]}} result */
  add(result) {
    const text = result.transcript.trim();
    if (!text) return;
    this.segments.push({ text, start: result.start, end: result.end, words: result.words ?? [] });
  }

  clear() {
    this.segments = [];
  }

  get isEmpty() {
    return this.segments.length === 0;
  }

  /** One line per final. */
  toText() {
    return this.segments.map((s) => s.text).join('\n') + (this.segments.length ? '\n' : '');
  }

  /** @returns {{start: number, end: number, text: string}[]} */
  cues() {
    const cues = [];
    for (const segment of this.segments) {
      if (segment.words.length === 0) {
        cues.push({ start: segment.start, end: segment.end, text: segment.text });
        continue;
      }
      /** @type {typeof segment.words} */
      let current = [];
      const push = () => {
        if (!current.length) return;
        cues.push({
          start: current[0].start,
          end: current[current.length - 1].end,
          text: current.map((w) => w.punctuatedWord).join(' '),
        });
        current = [];
      };
      for (const word of segment.words) {
        const text = [...current.map((w) => w.punctuatedWord), word.punctuatedWord].join(' ');
        const previous = current[current.length - 1];
        if (
          previous &&
          (text.length > this.maxCueChars ||
            word.end - current[0].start > this.maxCueSeconds ||
            endsSentence(previous.punctuatedWord))
        )
          push();
        current.push(word);
      }
      push();
    }
    // cues must not overlap and must have positive length
    for (let i = 0; i < cues.length; i++) {
      if (i > 0 && cues[i].start < cues[i - 1].end) cues[i].start = cues[i - 1].end;
      if (cues[i].end <= cues[i].start) cues[i].end = cues[i].start + 0.5;
    }
    return cues;
  }

  toSrt() {
    return this.cues()
      .map((cue, i) => `${i + 1}\n${timestamp(cue.start, ',')} --> ${timestamp(cue.end, ',')}\n${wrap(cue.text)}\n`)
      .join('\n');
  }

  toVtt() {
    const body = this.cues()
      .map((cue) => `${timestamp(cue.start, '.')} --> ${timestamp(cue.end, '.')}\n${wrap(cue.text)}\n`)
      .join('\n');
    return `WEBVTT\n\n${body}`;
  }
}

/**
 * HH:MM:SS,mmm (SRT) or HH:MM:SS.mmm (WebVTT).
 * @param {number} seconds
 * @param {',' | '.'} separator
 */
export function timestamp(seconds, separator) {
  const ms = Math.max(0, Math.round(seconds * 1000));
  const h = Math.floor(ms / 3600000);
  const m = Math.floor((ms % 3600000) / 60000);
  const s = Math.floor((ms % 60000) / 1000);
  const pad = (/** @type {number} */ n, /** @type {number} */ w) => String(n).padStart(w, '0');
  return `${pad(h, 2)}:${pad(m, 2)}:${pad(s, 2)}${separator}${pad(ms % 1000, 3)}`;
}

/** Two caption lines at most, broken near the middle. @param {string} text */
function wrap(text) {
  if (text.length <= 42) return text;
  const middle = Math.floor(text.length / 2);
  let cut = text.lastIndexOf(' ', middle);
  const after = text.indexOf(' ', middle);
  if (cut < 0 || (after >= 0 && after - middle < middle - cut)) cut = after;
  if (cut < 0) return text;
  return `${text.slice(0, cut)}\n${text.slice(cut + 1)}`;
}
