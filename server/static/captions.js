// The live captions: interims and finals as lines of text (one per utterance),
// the transcript they make, and its toolbar (copy, download, clear).

import { Transcript } from '../client/streamscribe.js';
import { copyText, exportTranscript, fileStamp } from './export.js';
import { clockText } from './ui.js';

/** @typedef {import('../client/streamscribe.js').TranscriptResult} Result */

/**
 * @typedef {object} CaptionElements
 * @property {HTMLElement} box #captions
 * @property {HTMLButtonElement} copy
 * @property {HTMLButtonElement} clear
 * @property {HTMLButtonElement[]} downloads buttons with data-download="txt|srt|vtt"
 */

/** @param {HTMLElement} box */
function nearBottom(box) {
  return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
}

/** @param {HTMLElement} box @param {boolean} follow */
function scrollIfFollowing(box, follow) {
  if (follow) box.scrollTop = box.scrollHeight;
}

/** @param {number} start */
function utteranceElement(start) {
  const root = document.createElement('div');
  root.className = 'utterance';
  const time = document.createElement('time');
  time.textContent = clockText(start);
  const text = document.createElement('p');
  text.className = 'text';
  const interim = document.createElement('span');
  interim.className = 'interim';
  interim.hidden = true;
  interim.setAttribute('aria-hidden', 'true'); // screen readers get the settled text only
  text.append(interim);
  root.append(time, text);
  return { root, text, interim };
}

/** @param {Result} result */
function finalElement(result) {
  const span = document.createElement('span');
  span.className = 'final fresh';
  span.dataset.start = result.start.toFixed(2);
  span.dataset.end = result.end.toFixed(2);
  span.textContent = `${result.transcript.trim()} `;
  span.addEventListener('animationend', () => span.classList.remove('fresh'), { once: true });
  return span;
}

export class CaptionView {
  /** @param {CaptionElements} elements */
  constructor(elements) {
    this.elements = elements;
    /** the finals shown, for copy and download */
    this.transcript = new Transcript();
    /** @type {{root: HTMLElement, text: HTMLElement, interim: HTMLElement} | null} the line being written */
    this.utterance = null;
    /** where the interim shown starts (Infinity: none) */
    this.interimStart = Infinity;
    /** Seconds added to a session's times so that a second session continues the transcript's clock. */
    this.sessionOffset = 0;
  }

  /** Wire copy, download and clear. */
  bindToolbar() {
    const { copy, clear, downloads } = this.elements;
    copy.addEventListener('click', async () => {
      const ok = await copyText(this.transcript.toText());
      const label = copy.textContent;
      copy.textContent = ok ? 'Copied ✓' : 'Copy failed';
      setTimeout(() => (copy.textContent = label), 1500);
    });
    for (const button of downloads) {
      button.addEventListener('click', () => exportTranscript(this.transcript, button.dataset.download ?? 'txt', fileStamp()));
    }
    clear.addEventListener('click', () => this.clear());
  }

  /** A new live session starts: its times continue after the transcript's last final. */
  beginSession() {
    const last = this.transcript.segments.at(-1);
    this.sessionOffset = last ? Math.ceil(last.end) + 1 : 0;
  }

  /** @param {Result} result an interim of the current session */
  showInterim(result) {
    this.setInterim(result.transcript, result.start + this.sessionOffset);
  }

  /** @param {Result} result a final of the current session */
  showFinal(result) {
    this.addFinal(this.shifted(result));
  }

  /** The server saw the end of an utterance: start a new line unless an interim is still shown. */
  utteranceEnded() {
    if (this.utterance && this.utterance.interim.hidden) this.closeUtterance();
  }

  /** The session is over: no interim is left, the line is done. */
  settle() {
    if (!this.utterance) return;
    this.utterance.interim.hidden = true;
    this.closeUtterance();
  }

  /** @param {Result} result */
  shifted(result) {
    const offset = this.sessionOffset;
    if (!offset) return result;
    return {
      ...result,
      start: result.start + offset,
      end: result.end + offset,
      words: result.words.map((w) => ({ ...w, start: w.start + offset, end: w.end + offset })),
    };
  }

  /** @param {number} start */
  openUtterance(start) {
    if (this.utterance) return this.utterance;
    this.elements.box.querySelector('.empty')?.remove();
    this.utterance = utteranceElement(start);
    this.elements.box.append(this.utterance.root);
    return this.utterance;
  }

  closeUtterance() {
    const utterance = this.utterance;
    if (!utterance) return;
    const pending = utterance.interim.hidden ? '' : utterance.interim.textContent ?? '';
    if (!utterance.text.querySelector('.final')) {
      // nothing settled in it: keep it open for the interim
      return;
    }
    utterance.interim.remove();
    this.utterance = null;
    if (pending) this.setInterim(pending, this.interimStart);
  }

  /** @param {string} text @param {number} start */
  setInterim(text, start) {
    const follow = nearBottom(this.elements.box);
    if (!text.trim()) {
      if (this.utterance) this.utterance.interim.hidden = true;
      this.interimStart = Infinity;
      return;
    }
    const u = this.openUtterance(start);
    u.interim.textContent = text;
    u.interim.hidden = false;
    this.interimStart = start;
    scrollIfFollowing(this.elements.box, follow);
  }

  /** @param {Result} result */
  addFinal(result) {
    const follow = nearBottom(this.elements.box);
    if (result.transcript.trim()) {
      const u = this.openUtterance(result.start);
      u.text.insertBefore(finalElement(result), u.interim);
      this.transcript.add(result);
      // the interim belonged to this segment: it is settled now
      if (this.interimStart < result.end - 0.01) {
        u.interim.hidden = true;
        u.interim.textContent = '';
        this.interimStart = Infinity;
      }
      this.updateToolbar();
    }
    if (result.speechFinal) this.closeUtterance();
    scrollIfFollowing(this.elements.box, follow);
  }

  clear() {
    this.transcript.clear();
    this.utterance = null;
    this.interimStart = Infinity;
    const empty = document.createElement('p');
    empty.className = 'empty';
    empty.textContent = 'Captions cleared. Press Start captions to go on.';
    this.elements.box.replaceChildren(empty);
    this.updateToolbar();
  }

  /** Copy and download need finals; clear needs something shown. */
  updateToolbar() {
    const { box, copy, clear, downloads } = this.elements;
    const empty = this.transcript.isEmpty;
    copy.disabled = empty;
    clear.disabled = empty && !box.querySelector('.utterance');
    for (const button of downloads) button.disabled = empty;
  }
}
