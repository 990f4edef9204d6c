// The live-caption page: wires StreamscribeClient to the DOM.
import { StreamscribeClient, Transcript } from '../client/streamscribe.js';

const $ = (selector) => document.querySelector(selector);

const ui = {
  status: $('#status'),
  toggle: $('#toggle'),
  toggleLabel: $('#toggle .label'),
  source: $('#source'),
  meter: $('#meter'),
  meterCover: $('#meter .meter-cover'),
  clock: $('#clock'),
  alert: $('#alert'),
  captions: $('#captions'),
  copy: $('#copy'),
  clear: $('#clear'),
  downloads: [...document.querySelectorAll('[data-download]')],
  apiKey: $('#api-key'),
  language: $('#language'),
  settings: $('details.settings'),
  serverState: $('#server-state'),
  embed: $('#embed-snippet'),
  uploadForm: $('#upload-form'),
  uploadFile: $('#upload-file'),
  uploadSubmit: $('#upload-submit'),
  dropzone: $('#dropzone'),
  uploadMessage: $('#upload-message'),
  uploadResult: $('#upload-result'),
};

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

const transcript = new Transcript();
let client = null;
let capturedStream = null;
let hadError = false;
let clockTimer = null;
let meterLevel = 0;

// ------------------------------------------------------------ settings

const stored = (key) => {
  try {
    return localStorage.getItem(`streamscribe.${key}`) ?? '';
  } catch {
    return '';
  }
};
const store = (key, value) => {
  try {
    localStorage.setItem(`streamscribe.${key}`, value);
  } catch {
    // private mode: settings last for this page only
  }
};
ui.apiKey.value = stored('apiKey');
ui.language.value = stored('language');
$('#settings-form').addEventListener('submit', (event) => event.preventDefault());
ui.apiKey.addEventListener('change', () => store('apiKey', ui.apiKey.value.trim()));
ui.language.addEventListener('change', () => store('language', ui.language.value.trim()));
ui.embed.textContent = `import { StreamscribeClient } from '${new URL('client/streamscribe.js', location.href)}'`;

// ------------------------------------------------------------ messages

function showAlert(element, kind, title, detail = '') {
  element.replaceChildren();
  element.dataset.kind = kind;
  const strong = document.createElement('strong');
  strong.textContent = title;
  element.append(strong);
  if (detail) element.append(` ${detail}`);
  element.hidden = false;
}

function hideAlert(element) {
  element.hidden = true;
  element.replaceChildren();
}

/** @param {import('../client/streamscribe.js').StreamscribeError} error */
function describeError(error) {
  switch (error.kind) {
    case 'permission-denied':
      return [
        'Microphone access is blocked.',
        'Allow the microphone for this site (the icon at the left of the address bar), then press Start captions again.',
      ];
    case 'no-microphone':
      return ['No microphone found.', 'Connect a microphone, or choose a browser tab as the audio source.'];
    case 'microphone-busy':
      return ['The microphone is busy.', 'Close other apps that use it and try again.'];
    case 'unsupported':
      return ['Audio capture is not available here.', error.message];
    case 'connect':
      return [
        'Cannot connect to the caption server.',
        ui.apiKey.value.trim()
          ? 'Check that the server is running and that the API key in Connection settings is right.'
          : 'Check that the server is running. If it requires an API key, enter it in Connection settings.',
      ];
    case 'server':
      return ['The server stopped the captions:', error.reason ? `${error.reason} (code ${error.code})` : error.message];
    case 'buffer-overflow':
      return ['Connection lost for a long time.', 'Some audio from the gap could not be kept and is missing from the captions.'];
    default:
      return ['Something went wrong.', error.message];
  }
}

// ------------------------------------------------------------ captions

let utterance = null; // {root, text, interim}
let interimStart = Infinity;
/** Seconds added to a session's times so that a second session continues the transcript's clock. */
let sessionOffset = 0;

function shifted(result) {
  if (!sessionOffset) return result;
  return {
    ...result,
    start: result.start + sessionOffset,
    end: result.end + sessionOffset,
    words: result.words.map((w) => ({ ...w, start: w.start + sessionOffset, end: w.end + sessionOffset })),
  };
}

function clockText(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

function nearBottom() {
  const c = ui.captions;
  return c.scrollHeight - c.scrollTop - c.clientHeight < 80;
}

function scrollIfFollowing(follow) {
  if (follow) ui.captions.scrollTop = ui.captions.scrollHeight;
}

function openUtterance(start) {
  if (utterance) return utterance;
  ui.captions.querySelector('.empty')?.remove();
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
  ui.captions.append(root);
  utterance = { root, text, interim };
  return utterance;
}

function closeUtterance() {
  if (!utterance) return;
  const pending = utterance.interim.hidden ? '' : utterance.interim.textContent;
  if (!utterance.text.querySelector('.final')) {
    // nothing settled in it: keep it open for the interim
    return;
  }
  utterance.interim.remove();
  utterance = null;
  if (pending) setInterim(pending, interimStart);
}

function setInterim(text, start) {
  const follow = nearBottom();
  if (!text.trim()) {
    if (utterance) utterance.interim.hidden = true;
    interimStart = Infinity;
    return;
  }
  const u = openUtterance(start);
  u.interim.textContent = text;
  u.interim.hidden = false;
  interimStart = start;
  scrollIfFollowing(follow);
}

function addFinal(result) {
  const follow = nearBottom();
  if (result.transcript.trim()) {
    const u = openUtterance(result.start);
    const span = document.createElement('span');
    span.className = 'final fresh';
    span.dataset.start = result.start.toFixed(2);
    span.dataset.end = result.end.toFixed(2);
    span.textContent = `${result.transcript.trim()} `;
    span.addEventListener('animationend', () => span.classList.remove('fresh'), { once: true });
    u.text.insertBefore(span, u.interim);
    transcript.add(result);
    // the interim belonged to this segment: it is settled now
    if (interimStart < result.end - 0.01) {
      u.interim.hidden = true;
      u.interim.textContent = '';
      interimStart = Infinity;
    }
    updateTranscriptButtons();
  }
  if (result.speechFinal) closeUtterance();
  scrollIfFollowing(follow);
}

function clearCaptions() {
  transcript.clear();
  utterance = null;
  interimStart = Infinity;
  const empty = document.createElement('p');
  empty.className = 'empty';
  empty.textContent = 'Captions cleared. Press Start captions to go on.';
  ui.captions.replaceChildren(empty);
  updateTranscriptButtons();
}

function updateTranscriptButtons() {
  const empty = transcript.isEmpty;
  ui.copy.disabled = empty;
  ui.clear.disabled = empty && !ui.captions.querySelector('.utterance');
  for (const button of ui.downloads) button.disabled = empty;
}

// ------------------------------------------------------------ export

function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function exportTranscript(t, format, base) {
  if (format === 'srt') download(`${base}.srt`, t.toSrt(), 'application/x-subrip');
  else if (format === 'vtt') download(`${base}.vtt`, t.toVtt(), 'text/vtt');
  else download(`${base}.txt`, t.toText(), 'text/plain');
}

function fileStamp() {
  const d = new Date();
  const p = (n) => String(n).padStart(2, '0');
  return `captions-${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}`;
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = document.createElement('textarea');
    area.value = text;
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.append(area);
    area.select();
    const ok = document.execCommand('copy');
    area.remove();
    return ok;
  }
}

ui.copy.addEventListener('click', async () => {
  const ok = await copyText(transcript.toText());
  const label = ui.copy.textContent;
  ui.copy.textContent = ok ? 'Copied ✓' : 'Copy failed';
  setTimeout(() => (ui.copy.textContent = label), 1500);
});
for (const button of ui.downloads) {
  button.addEventListener('click', () => exportTranscript(transcript, button.dataset.download, fileStamp()));
}
ui.clear.addEventListener('click', clearCaptions);

// ------------------------------------------------------------ live

function setStatus(state) {
  const shown = state === 'closed' && hadError ? 'error' : state;
  ui.status.dataset.state = shown;
  ui.status.textContent = STATE_LABELS[shown] ?? shown;
  const running = state === 'live' || state === 'reconnecting' || state === 'connecting' || state === 'starting';
  ui.toggle.setAttribute('aria-pressed', String(running));
  ui.toggleLabel.textContent = running ? 'Stop' : state === 'stopping' ? 'Finishing…' : 'Start captions';
  ui.toggle.disabled = state === 'stopping';
  ui.source.disabled = running || state === 'stopping';
}

function setMeter(value) {
  meterLevel = Math.max(value, meterLevel * 0.82);
  const percent = Math.round(meterLevel * 100);
  ui.meterCover.style.width = `${100 - percent}%`;
  ui.meter.setAttribute('aria-valuenow', String(percent));
}

async function captureSource() {
  if (ui.source.value !== 'tab') return undefined; // the client opens the microphone
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

async function start() {
  hideAlert(ui.alert);
  hadError = false;
  const language = ui.language.value.trim();
  client = new StreamscribeClient({
    apiKey: ui.apiKey.value.trim(),
    params: language ? { language } : {},
  });
  client.on('state', setStatus);
  const last = transcript.segments.at(-1);
  sessionOffset = last ? Math.ceil(last.end) + 1 : 0;
  client.on('interim', (r) => setInterim(r.transcript, r.start + sessionOffset));
  client.on('final', (r) => addFinal(shifted(r)));
  client.on('utteranceend', () => {
    if (utterance && utterance.interim.hidden) closeUtterance();
  });
  client.on('level', ({ rms }) => {
    const db = 20 * Math.log10(Math.max(rms, 1e-5));
    setMeter(Math.min(1, Math.max(0, (db + 60) / 60)));
  });
  client.on('reconnecting', ({ attempt }) =>
    showAlert(
      ui.alert,
      'info',
      'Connection lost, reconnecting…',
      `Attempt ${attempt}. Keep talking: audio is kept and captioned when the connection is back.`,
    ),
  );
  client.on('reconnected', () => {
    showAlert(ui.alert, 'ok', 'Reconnected.', 'Captions continue where they left off.');
    setTimeout(() => {
      if (ui.alert.dataset.kind === 'ok') hideAlert(ui.alert);
    }, 4000);
  });
  client.on('error', (error) => {
    if (error.fatal) hadError = true;
    const [title, detail] = describeError(error);
    showAlert(ui.alert, error.fatal ? 'error' : 'info', title, detail);
  });
  client.on('close', () => {
    stopCapture();
    setStatus('closed');
  });
  const started = performance.now();
  clockTimer = setInterval(() => {
    ui.clock.textContent = clockText(client ? client.duration : (performance.now() - started) / 1000);
  }, 250);
  try {
    capturedStream = await captureSource();
    await client.start(capturedStream);
  } catch (error) {
    stopCapture();
    if (error.kind === 'aborted') return; // the user pressed Stop while connecting
    hadError = true;
    const [title, detail] = describeError(error);
    showAlert(ui.alert, 'error', title, detail);
    if (error.kind === 'connect' && !ui.apiKey.value.trim()) ui.settings.open = true;
    setStatus('closed');
  }
}

function stopCapture() {
  clearInterval(clockTimer);
  clockTimer = null;
  setMeter(0);
  meterLevel = 0;
  ui.meterCover.style.width = '100%';
  if (capturedStream) for (const track of capturedStream.getTracks()) track.stop();
  capturedStream = null;
}

async function stop() {
  if (!client) return;
  await client.stop();
  if (utterance) {
    utterance.interim.hidden = true;
    closeUtterance();
  }
}

ui.toggle.addEventListener('click', () => {
  const state = client?.state ?? 'idle';
  if (state === 'idle' || state === 'closed') void start();
  else void stop();
});

// ------------------------------------------------------------ server status

async function checkServer() {
  try {
    const response = await fetch('readyz', { cache: 'no-store' });
    const body = await response.json();
    ui.serverState.textContent = body.ready ? `Server ready · ${body.detail}` : `Server starting · ${body.detail}`;
    if (!body.ready) setTimeout(checkServer, 5000);
  } catch {
    ui.serverState.textContent = 'Server not reachable';
    setTimeout(checkServer, 10000);
  }
}
void checkServer();

// ------------------------------------------------------------ upload

function chosenFile() {
  return ui.uploadFile.files?.[0] ?? null;
}

function formatSize(bytes) {
  if (bytes < 1024 * 1024) return `${Math.max(1, Math.round(bytes / 1024))} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function showChosen() {
  const file = chosenFile();
  ui.uploadSubmit.disabled = !file;
  const text = ui.dropzone.querySelector('.dropzone-text');
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

ui.uploadFile.addEventListener('change', showChosen);
for (const type of ['dragenter', 'dragover']) {
  ui.dropzone.addEventListener(type, (event) => {
    event.preventDefault();
    ui.dropzone.classList.add('dragging');
  });
}
for (const type of ['dragleave', 'drop']) {
  ui.dropzone.addEventListener(type, () => ui.dropzone.classList.remove('dragging'));
}
ui.dropzone.addEventListener('drop', (event) => {
  event.preventDefault();
  if (event.dataTransfer?.files?.length) {
    ui.uploadFile.files = event.dataTransfer.files;
    showChosen();
  }
});

function renderUpload(body, file) {
  const segments = Array.isArray(body.segments) ? body.segments : [];
  const result = new Transcript();
  for (const s of segments) result.add({ transcript: String(s.text ?? ''), start: Number(s.start), end: Number(s.end) });
  if (!segments.length && body.text) result.add({ transcript: String(body.text), start: 0, end: Number(body.duration ?? 0) });
  const meta = document.createElement('p');
  meta.className = 'meta';
  const parts = [file.name];
  if (body.duration) parts.push(clockText(body.duration));
  if (body.language) parts.push(body.language);
  meta.textContent = parts.join(' · ');
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
  const toolbar = document.createElement('div');
  toolbar.className = 'toolbar';
  const label = document.createElement('span');
  label.className = 'toolbar-label';
  label.textContent = 'Download';
  toolbar.append(label);
  const base = file.name.replace(/\.[^.]+$/, '') || 'transcript';
  for (const format of ['txt', 'srt', 'vtt']) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'ghost';
    button.textContent = format.toUpperCase();
    button.addEventListener('click', () => exportTranscript(result, format, base));
    toolbar.append(button);
  }
  if (result.isEmpty) {
    const none = document.createElement('p');
    none.className = 'meta';
    none.textContent = 'No speech was found in this file.';
    ui.uploadResult.replaceChildren(meta, none);
  } else {
    ui.uploadResult.replaceChildren(meta, list, toolbar);
  }
  ui.uploadResult.hidden = false;
}

ui.uploadForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const file = chosenFile();
  if (!file) return;
  hideAlert(ui.uploadMessage);
  ui.uploadResult.hidden = true;
  ui.uploadSubmit.disabled = true;
  ui.uploadSubmit.textContent = 'Transcribing…';
  const form = new FormData();
  form.append('file', file);
  form.append('model', 'whisper-1');
  form.append('response_format', 'verbose_json');
  form.append('timestamp_granularities[]', 'segment');
  const language = ui.language.value.trim();
  if (language) form.append('language', language);
  const key = ui.apiKey.value.trim();
  try {
    const response = await fetch('v1/audio/transcriptions', {
      method: 'POST',
      body: form,
      headers: key ? { Authorization: `Bearer ${key}` } : {},
    });
    if (response.status === 404 || response.status === 405) {
      showAlert(ui.uploadMessage, 'info', 'File transcription is not available on this server yet.', 'Live captions work as usual.');
      return;
    }
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (!response.ok) {
      const message = body?.error?.message ?? body?.err_msg ?? `HTTP ${response.status}`;
      const title = response.status === 401 ? 'The server refused the API key.' : 'The file could not be transcribed.';
      showAlert(ui.uploadMessage, 'error', title, message);
      return;
    }
    renderUpload(body ?? {}, file);
  } catch (error) {
    showAlert(ui.uploadMessage, 'error', 'Upload failed.', 'The server could not be reached.');
  } finally {
    ui.uploadSubmit.textContent = 'Transcribe';
    ui.uploadSubmit.disabled = !chosenFile();
  }
});

setStatus('idle');
updateTranscriptButtons();
