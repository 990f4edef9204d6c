// Transcripts of the streamscribe browser client: collect final results and
// export them as plain text, SRT or WebVTT.

/**
 * Collects final results and exports them as plain text, SRT or WebVTT.
 * Long finals are split into cues of at most `maxCueChars` characters and
 * `maxCueSeconds` using the word times.
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
        if (current.length && (text.length > this.maxCueChars || word.end - current[0].start > this.maxCueSeconds)) push();
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
