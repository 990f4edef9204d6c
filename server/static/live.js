// Live captions: the start/stop button, the audio source (microphone or a
// tab), the level meter, the clock, the status and the alert; one
// StreamscribeClient per session, its results shown by a CaptionView.

import { StreamscribeClient } from '../client/streamscribe.js';
import { clientCredentials } from './credentials.js';
import { describeError } from './messages.js';
import { clockText, hideAlert, showAlert } from './ui.js';

/** @typedef {import('./captions.js').CaptionView} CaptionView */
/** @typedef {import('./settings.js').Settings} Settings */

/**
 * @typedef {object} LiveElements
 * @property {HTMLElement} status
 * @property {HTMLElement} toggle
 * @property {HTMLElement} toggleLabel
 * @property {HTMLSelectElement} source
 * @property {HTMLElement} meter
 * @property {HTMLElement} meterCover
 * @property {HTMLElement} clock
 * @property {HTMLElement} alert
 */

const STATE_LABELS = {
  idle: 'Ready',
  starting: 'Starting…',
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  stopping: 'Finishing…',
  closed: 'Ready',
  error: 'Error',
};

/** The input level: rises at once, falls slowly. */
class LevelMeter {
  /** @param {HTMLElement} meter @param {HTMLElement} cover */
  constructor(meter, cover) {
    this.meter = meter;
    this.cover = cover;
    this.level = 0;
  }

  /** @param {number} value 0-1 */
  set(value) {
    this.level = Math.max(value, this.level * 0.82);
    const percent = Math.round(this.level * 100);
    this.cover.style.width = `${100 - percent}%`;
    this.meter.setAttribute('aria-valuenow', String(percent));
  }

  /** @param {number} rms 0-1, shown on a 60 dB scale */
  setRms(rms) {
    const db = 20 * Math.log10(Math.max(rms, 1e-5));
    this.set(Math.min(1, Math.max(0, (db + 60) / 60)));
  }

  reset() {
    this.set(0);
    this.level = 0;
    this.cover.style.width = '100%';
  }
}

/**
 * The stream to caption: undefined for the microphone (the client opens it),
 * or a tab's audio.
 * @param {string} source 'mic' or 'tab'
 * @returns {Promise<MediaStream | undefined>}
 */
async function captureSource(source) {
  if (source !== 'tab') return undefined; // the client opens the microphone
  if (!navigator.mediaDevices?.getDisplayMedia) {
    throw Object.assign(new Error('This browser cannot capture a tab.'), { kind: 'unsupported' });
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: true });
  } catch (error) {
    throw Object.assign(new Error('Tab sharing was cancelled.'), { kind: 'permission-denied', cause: error });
  }
  if (stream.getAudioTracks().length === 0) {
    for (const track of stream.getTracks()) track.stop();
    throw Object.assign(new Error('No audio shared: tick "Share tab audio" when choosing the tab.'), {
      kind: 'no-microphone',
    });
  }
  return stream;
}

export class LiveCaptions {
  /**
   * @param {LiveElements} elements
   * @param {{captions: CaptionView, settings: Settings}} parts where results go; the API key or token and language
   */
  constructor(elements, { captions, settings }) {
    this.elements = elements;
    this.captions = captions;
    this.settings = settings;
    this.meter = new LevelMeter(elements.meter, elements.meterCover);
    /** @type {StreamscribeClient | null} the current (or last) session's client */
    this.client = null;
    /** @type {MediaStream | null | undefined} a tab's stream, stopped when the session ends */
    this.capturedStream = null;
    /** whether the session ended with an error (the status says Error, not Ready) */
    this.hadError = false;
    /** @type {ReturnType<typeof setInterval> | null} */
    this.clockTimer = null;
  }

  /** Wire the start/stop button. */
  bind() {
    this.elements.toggle.addEventListener('click', () => {
      const state = this.client?.state ?? 'idle';
      if (state === 'idle' || state === 'closed') void this.start();
      else void this.stop();
    });
  }

  /** @param {string} state a client state */
  setStatus(state) {
    const { status, toggle, toggleLabel, source } = this.elements;
    const shown = state === 'closed' && this.hadError ? 'error' : state;
    status.dataset.state = shown;
    status.textContent = STATE_LABELS[/** @type {keyof typeof STATE_LABELS} */ (shown)] ?? shown;
    const running = state === 'live' || state === 'reconnecting' || state === 'connecting' || state === 'starting';
    toggle.setAttribute('aria-pressed', String(running));
    toggleLabel.textContent = running ? 'Stop' : state === 'stopping' ? 'Finishing…' : 'Start captions';
    /** @type {HTMLButtonElement} */ (toggle).disabled = state === 'stopping';
    source.disabled = running || state === 'stopping';
  }

  async start() {
    hideAlert(this.elements.alert);
    this.hadError = false;
    const language = this.settings.language;
    const client = new StreamscribeClient({
      ...clientCredentials(this.settings.credential),
      params: language ? { language } : {},
    });
    this.client = client;
    this.listen(client);
    this.startClock();
    try {
      this.capturedStream = await captureSource(this.elements.source.value);
      await client.start(this.capturedStream);
    } catch (error) {
      this.stopCapture();
      if (error.kind === 'aborted') return; // the user pressed Stop while connecting
      this.hadError = true;
      const [title, detail] = describeError(error, this.settings.credentialKind);
      showAlert(this.elements.alert, 'error', title, detail);
      if (error.kind === 'connect' && !this.settings.credential) this.settings.open();
      this.setStatus('closed');
    }
  }

  /** @param {StreamscribeClient} client */
  listen(client) {
    const { alert } = this.elements;
    client.on('state', (state) => this.setStatus(state));
    this.captions.beginSession();
    client.on('interim', (r) => this.captions.showInterim(r));
    client.on('final', (r) => this.captions.showFinal(r));
    client.on('utteranceend', () => this.captions.utteranceEnded());
    client.on('level', ({ rms }) => this.meter.setRms(rms));
    client.on('reconnecting', ({ attempt }) =>
      showAlert(
        alert,
        'info',
        'Connection lost, reconnecting…',
        `Attempt ${attempt}. Keep talking: audio is kept and captioned when the connection is back.`,
      ),
    );
    client.on('reconnected', () => {
      showAlert(alert, 'ok', 'Reconnected.', 'Captions continue where they left off.');
      setTimeout(() => {
        if (alert.dataset.kind === 'ok') hideAlert(alert);
      }, 4000);
    });
    client.on('error', (error) => {
      if (error.fatal) this.hadError = true;
      const [title, detail] = describeError(error, this.settings.credentialKind);
      showAlert(alert, error.fatal ? 'error' : 'info', title, detail);
    });
    client.on('close', () => {
      this.stopCapture();
      this.setStatus('closed');
    });
  }

  startClock() {
    const started = performance.now();
    this.clockTimer = setInterval(() => {
      const client = this.client;
      this.elements.clock.textContent = clockText(client ? client.duration : (performance.now() - started) / 1000);
    }, 250);
  }

  stopCapture() {
    if (this.clockTimer) clearInterval(this.clockTimer);
    this.clockTimer = null;
    this.meter.reset();
    if (this.capturedStream) for (const track of this.capturedStream.getTracks()) track.stop();
    this.capturedStream = null;
  }

  async stop() {
    if (!this.client) return;
    await this.client.stop();
    this.captions.settle();
  }
}
