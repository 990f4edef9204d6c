// The file box: choose or drop a recording, send it to POST
// /v1/audio/transcriptions, show its segments with TXT/SRT/VTT downloads.

import { Transcript } from '../client/streamscribe.js';
import { authorizationHeaders } from './credentials.js';
import { exportTranscript } from './export.js';
import { clockText, hideAlert, showAlert } from './ui.js';

/** @typedef {import('./settings.js').Settings} Settings */

/**
 * @typedef {object} UploadElements
 * @property {HTMLElement} form
 * @property {HTMLInputElement} file
 * @property {HTMLButtonElement} submit
 * @property {HTMLElement} dropzone
 * @property {HTMLElement} message
 * @property {HTMLElement} result
 */

/** @param {number} bytes */
function formatSize(bytes) {
  if (bytes < 1024 * 1024) return `${Math.max(1, Math.round(bytes / 1024))} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/**
 * The request: OpenAI's transcription form, with segments.
 * @param {File} file
 * @param {string} language '' for the server's default
 */
function requestForm(file, language) {
  const form = new FormData();
  form.append('file', file);
  form.append('model', 'whisper-1');
  form.append('response_format', 'verbose_json');
  form.append('timestamp_granularities[]', 'segment');
  if (language) form.append('language', language);
  return form;
}

/**
 * The answer's segments (or its text, without segments) as a Transcript.
 * @param {any} body a verbose_json answer
 */
function resultTranscript(body) {
  const segments = Array.isArray(body.segments) ? body.segments : [];
  const result = new Transcript();
  for (const s of segments) result.add({ transcript: String(s.text ?? ''), start: Number(s.start), end: Number(s.end) });
  if (!segments.length && body.text) result.add({ transcript: String(body.text), start: 0, end: Number(body.duration ?? 0) });
  return result;
}

/** @param {string} text */
function metaLine(text) {
  const meta = document.createElement('p');
  meta.className = 'meta';
  meta.textContent = text;
  return meta;
}

/** @param {Transcript} result */
function segmentList(result) {
  const list = document.createElement('ul');
  list.className = 'segments';
  for (const s of result.segments) {
    const item = document.createElement('li');
    const time = document.createElement('time');
    time.textContent = clockText(s.start);
    const text = document.createElement('span');
    text.textContent = s.text;
    item.append(time, text);
    list.append(item);
  }
  return list;
}

/** @param {Transcript} result @param {string} base the file name for downloads, without extension */
function downloadBar(result, base) {
  const toolbar = document.createElement('div');
  toolbar.className = 'toolbar';
  const label = document.createElement('span');
  label.className = 'toolbar-label';
  label.textContent = 'Download';
  toolbar.append(label);
  for (const format of ['txt', 'srt', 'vtt']) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'ghost';
    button.textContent = format.toUpperCase();
    button.addEventListener('click', () => exportTranscript(result, format, base));
    toolbar.append(button);
  }
  return toolbar;
}

export class UploadBox {
  /** @param {UploadElements} elements @param {Settings} settings the API key or token and language */
  constructor(elements, settings) {
    this.elements = elements;
    this.settings = settings;
  }

  /** Wire the file input, the drop zone and the form. */
  bind() {
    const { form, file, dropzone } = this.elements;
    file.addEventListener('change', () => this.showChosen());
    for (const type of ['dragenter', 'dragover']) {
      dropzone.addEventListener(type, (event) => {
        event.preventDefault();
        dropzone.classList.add('dragging');
      });
    }
    for (const type of ['dragleave', 'drop']) {
      dropzone.addEventListener(type, () => dropzone.classList.remove('dragging'));
    }
    dropzone.addEventListener('drop', (event) => {
      event.preventDefault();
      const files = /** @type {DragEvent} */ (event).dataTransfer?.files;
      if (files?.length) {
        file.files = files;
        this.showChosen();
      }
    });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.transcribe();
    });
  }

  chosenFile() {
    return this.elements.file.files?.[0] ?? null;
  }

  /** The drop zone names the file chosen, or invites to choose one. */
  showChosen() {
    const file = this.chosenFile();
    this.elements.submit.disabled = !file;
    const text = /** @type {HTMLElement} */ (this.elements.dropzone.querySelector('.dropzone-text'));
    text.replaceChildren();
    const strong = document.createElement('strong');
    const small = document.createElement('small');
    if (file) {
      strong.textContent = file.name;
      small.textContent = `${formatSize(file.size)} · click to choose another`;
    } else {
      strong.textContent = 'Choose a file';
      small.textContent = 'audio or video, any format FFmpeg reads';
      text.append(strong, ' or drop it here ', small);
      return;
    }
    text.append(strong, ' ', small);
  }

  /** Send the chosen file and show the answer. */
  async transcribe() {
    const { submit, message, result } = this.elements;
    const file = this.chosenFile();
    if (!file) return;
    hideAlert(message);
    result.hidden = true;
    submit.disabled = true;
    submit.textContent = 'Transcribing…';
    try {
      const response = await fetch('v1/audio/transcriptions', {
        method: 'POST',
        body: requestForm(file, this.settings.language),
        headers: authorizationHeaders(this.settings.credential),
      });
      await this.showResponse(response, file);
    } catch (error) {
      showAlert(message, 'error', 'Upload failed.', 'The server could not be reached.');
    } finally {
      submit.textContent = 'Transcribe';
      submit.disabled = !this.chosenFile();
    }
  }

  /** @param {Response} response @param {File} file */
  async showResponse(response, file) {
    const { message } = this.elements;
    if (response.status === 404 || response.status === 405) {
      showAlert(message, 'info', 'File transcription is not available on this server yet.', 'Live captions work as usual.');
      return;
    }
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (!response.ok) {
      const detail = body?.error?.message ?? body?.err_msg ?? `HTTP ${response.status}`;
      const refused = this.settings.credentialKind === 'token' ? 'the access token' : 'the API key';
      const title = response.status === 401 ? `The server refused ${refused}.` : 'The file could not be transcribed.';
      showAlert(message, 'error', title, detail);
      return;
    }
    this.render(body ?? {}, file);
  }

  /** @param {any} body a verbose_json answer @param {File} file */
  render(body, file) {
    const result = resultTranscript(body);
    const parts = [file.name];
    if (body.duration) parts.push(clockText(body.duration));
    if (body.language) parts.push(body.language);
    const meta = metaLine(parts.join(' · '));
    const box = this.elements.result;
    if (result.isEmpty) {
      box.replaceChildren(meta, metaLine('No speech was found in this file.'));
    } else {
      const base = file.name.replace(/\.[^.]+$/, '') || 'transcript';
      box.replaceChildren(meta, segmentList(result), downloadBar(result, base));
    }
    box.hidden = false;
  }
}
