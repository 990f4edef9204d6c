// Drives streamscribe's live-caption page in Debian's Chromium (playwright-core,
// no browser download) with a fake microphone that plays a WAV file once.
//
//   node caption.mjs '{"scenario": "live", "url": "http://127.0.0.1:PORT/", "wav": "/tmp/x.wav", ...}'
//
// Prints one JSON object per line: what the page showed as it happened
// ({"event": "interim" | "final" | "status" | "alert", "t": seconds since start
// was clicked, ...}) and last {"event": "result", ...}. tests/e2e/test_browser.py
// reads the lines as they come (the reconnect test kills the server on the first
// final) and makes the assertions.
//
// Scenarios:
//   live    click Start, let the WAV play, click Stop, report the captions
//   alert   click Start and report the message the page shows (denied
//           microphone, wrong API key, a server refusal)
//   upload  transcribe a file with the upload box
//   embed   a page on another origin imports /client/streamscribe.js from the
//           server (CORS) and streams the fake microphone with it
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { chromium } from 'playwright-core';

const cfg = JSON.parse(process.argv[2]);
const emit = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const args = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
];
if (!cfg.denyMicrophone) args.push('--use-fake-ui-for-media-stream');
if (cfg.wav) args.push(`--use-file-for-fake-audio-capture=${cfg.wav}%noloop`);

const artifacts = cfg.artifacts;
mkdirSync(artifacts, { recursive: true });
const shot = (name) => path.join(artifacts, `${cfg.name}-${name}.png`);

// a fresh profile (--user-data-dir) for every run
const profile = mkdtempSync(path.join(tmpdir(), 'streamscribe-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: cfg.chromium ?? '/usr/bin/chromium',
  headless: true,
  args,
  viewport: { width: 1100, height: 900 },
  colorScheme: 'light',
});

const consoleLines = [];
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (message) => consoleLines.push(`${message.type()}: ${message.text()}`));
  page.on('pageerror', (error) => consoleLines.push(`pageerror: ${error.message}`));
  if (cfg.route404) {
    await page.route('**/v1/audio/transcriptions', (route) => route.fulfill({ status: 404, body: 'Not Found' }));
  }
  if (cfg.scenario !== 'embed') {
    await page.goto(cfg.url, { waitUntil: 'load' });
    await page.waitForFunction(() => document.querySelector('#status')?.textContent === 'Ready');
    if (cfg.apiKey !== undefined || cfg.language !== undefined) {
      await page.locator('details.settings summary').click();
      if (cfg.apiKey !== undefined) await page.fill('#api-key', cfg.apiKey);
      if (cfg.language !== undefined) await page.fill('#language', cfg.language);
      await page.locator('details.settings summary').click();
    }
  }
  if (cfg.scenario === 'embed') await embed(page);
  else if (cfg.scenario === 'live') await live(page);
  else if (cfg.scenario === 'alert') await alert(page);
  else if (cfg.scenario === 'upload') await upload(page);
  else throw new Error(`unknown scenario ${cfg.scenario}`);
} catch (error) {
  emit({ event: 'failure', message: String(error?.stack ?? error), console: consoleLines });
  process.exitCode = 1;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}

/** Record what #captions, #status and #alert show, with times, inside the page. */
async function observe(page) {
  await page.evaluate(() => {
    const log = [];
    window.__captionLog = log;
    const t0 = performance.now();
    const now = () => (performance.now() - t0) / 1000;
    window.__t0 = t0;
    let lastInterim = '';
    let finals = 0;
    let lastStatus = '';
    let lastAlert = '';
    const captions = document.querySelector('#captions');
    const check = () => {
      const interim = captions.querySelector('.interim:not([hidden])');
      const interimText = interim?.textContent?.trim() ?? '';
      if (interimText && interimText !== lastInterim) {
        const style = getComputedStyle(interim);
        log.push({ event: 'interim', t: now(), text: interimText, style: { fontStyle: style.fontStyle, color: style.color } });
      }
      lastInterim = interimText;
      const spans = captions.querySelectorAll('.final');
      for (; finals < spans.length; finals++) {
        const span = spans[finals];
        const style = getComputedStyle(span);
        log.push({
          event: 'final',
          t: now(),
          text: span.textContent.trim(),
          start: Number(span.dataset.start),
          end: Number(span.dataset.end),
          style: { fontStyle: style.fontStyle, color: style.color },
        });
      }
      const status = document.querySelector('#status').textContent;
      if (status !== lastStatus) log.push({ event: 'status', t: now(), text: status });
      lastStatus = status;
      const alertBox = document.querySelector('#alert');
      const alertText = alertBox.hidden ? '' : alertBox.textContent;
      if (alertText !== lastAlert && alertText) log.push({ event: 'alert', t: now(), text: alertText, kind: alertBox.dataset.kind });
      lastAlert = alertText;
    };
    const observer = new MutationObserver(check);
    for (const target of [captions, document.querySelector('#status'), document.querySelector('#alert')]) {
      observer.observe(target, { subtree: true, childList: true, characterData: true, attributes: true });
    }
    window.__maxMeter = 0;
    const meter = document.querySelector('#meter');
    new MutationObserver(() => {
      window.__maxMeter = Math.max(window.__maxMeter, Number(meter.getAttribute('aria-valuenow')));
    }).observe(meter, { attributes: true, attributeFilter: ['aria-valuenow'] });
  });
  let sent = 0;
  const events = [];
  return {
    events,
    /** Pull new log entries from the page and print them. */
    async poll() {
      const fresh = await page.evaluate((from) => window.__captionLog.slice(from), sent);
      sent += fresh.length;
      for (const entry of fresh) {
        events.push(entry);
        emit(entry);
      }
      return fresh;
    },
  };
}

async function statusText(page) {
  return page.locator('#status').textContent();
}

async function live(page) {
  const log = await observe(page);
  const started = Date.now();
  await page.click('#toggle');
  await page.waitForFunction(() => document.querySelector('#status').textContent === 'Live', null, { timeout: 30000 });
  const liveAt = (Date.now() - started) / 1000;
  emit({ event: 'live', t: liveAt });
  let liveShot = false;
  let reconnectingShot = false;
  const deadline = started + cfg.timeoutS * 1000;
  let reconnected = !cfg.expectReconnect;
  while (Date.now() < deadline) {
    await log.poll();
    const elapsed = (Date.now() - started) / 1000;
    if (log.events.some((e) => e.event === 'alert' && /Reconnected/.test(e.text))) reconnected = true;
    if (!reconnectingShot && (await statusText(page)) === 'Reconnecting…') {
      await page.screenshot({ path: shot('reconnecting') });
      reconnectingShot = true;
    }
    // a picture of the page at work: settled lines and a provisional one
    if (!liveShot && log.events.some((e) => e.event === 'final')) {
      const interimVisible = await page.locator('#captions .interim:not([hidden])').count();
      if (interimVisible || elapsed > cfg.audioSeconds) {
        await page.screenshot({ path: shot('live') });
        liveShot = true;
      }
    }
    if (elapsed >= cfg.audioSeconds && reconnected && (await statusText(page)) === 'Live') break;
    await sleep(100);
  }
  await page.click('#toggle'); // Stop: the client flushes and waits for the last finals
  await page.waitForFunction(() => document.querySelector('#status').dataset.state === 'closed', null, {
    timeout: 60000,
  });
  await log.poll();
  const finals = await page.$$eval('#captions .final', (spans) =>
    spans.map((s) => ({ text: s.textContent.trim(), start: Number(s.dataset.start), end: Number(s.dataset.end) })),
  );
  const downloads = {};
  for (const format of ['txt', 'srt', 'vtt']) {
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click(`[data-download="${format}"]`),
    ]);
    const file = path.join(artifacts, `${cfg.name}.${format}`);
    await download.saveAs(file);
    downloads[format] = file;
  }
  const maxMeter = await page.evaluate(() => window.__maxMeter);
  await page.screenshot({ path: shot('done'), fullPage: true });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: shot('phone-dark'), fullPage: true });
  emit({
    event: 'result',
    finals,
    downloads,
    maxMeter,
    status: await statusText(page),
    alert: (await page.locator('#alert').isVisible()) ? await page.locator('#alert').textContent() : '',
    console: consoleLines,
  });
}

async function alert(page) {
  const log = await observe(page);
  await page.click('#toggle');
  await page.locator('#alert').waitFor({ state: 'visible', timeout: 30000 });
  await page.waitForFunction(() => document.querySelector('#status').dataset.state === 'error', null, {
    timeout: 30000,
  });
  await log.poll();
  await page.screenshot({ path: shot('alert') });
  emit({
    event: 'result',
    alert: await page.locator('#alert').textContent(),
    status: await statusText(page),
    settingsOpen: await page.locator('details.settings').evaluate((d) => d.open),
    toggle: await page.locator('#toggle').textContent(),
    console: consoleLines,
  });
}

async function upload(page) {
  await page.setInputFiles('#upload-file', cfg.file);
  await page.click('#upload-submit');
  await page.waitForFunction(
    () => !document.querySelector('#upload-message').hidden || !document.querySelector('#upload-result').hidden,
    null,
    { timeout: 120000 },
  );
  await page.screenshot({ path: shot('upload'), fullPage: true });
  const visible = async (selector) => ((await page.locator(selector).isVisible()) ? page.locator(selector).textContent() : '');
  emit({
    event: 'result',
    message: await visible('#upload-message'),
    messageKind: await page.locator('#upload-message').getAttribute('data-kind'),
    segments: await page.$$eval('#upload-result li span', (spans) => spans.map((s) => s.textContent)),
    console: consoleLines,
  });
}

async function embed(page) {
  // A page of another origin (a small HTTP server of this script, on loopback
  // like the streamscribe server) that uses the client straight from the server.
  const clientUrl = new URL('client/streamscribe.js', cfg.url).toString();
  const html = `<!doctype html><html lang="en"><meta charset="utf-8"><title>embedded captions</title>
<button id="go">go</button><p id="out"></p><p id="err"></p>
<script type="module">
  import { StreamscribeClient } from ${JSON.stringify(clientUrl)};
  const client = new StreamscribeClient({ apiKey: ${JSON.stringify(cfg.apiKey ?? '')} });
  window.client = client;
  window.finals = [];
  client.on('final', (r) => { if (r.transcript) window.finals.push(r.transcript); });
  client.on('error', (e) => (document.getElementById('err').textContent = e.kind + ': ' + e.message));
  document.getElementById('go').onclick = () =>
    client.start().catch((e) => (document.getElementById('err').textContent = e.kind + ': ' + e.message));
</script></html>`;
  const site = http.createServer((request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(html);
  });
  await new Promise((resolve) => site.listen(0, '127.0.0.1', resolve));
  const embedOrigin = `http://localhost:${site.address().port}`;
  const responses = {};
  page.on('response', (response) => {
    const url = response.url();
    if (url.startsWith(new URL(cfg.url).origin) && url.includes('/client/')) {
      responses[new URL(url).pathname] = {
        status: response.status(),
        contentType: response.headers()['content-type'],
        allowOrigin: response.headers()['access-control-allow-origin'],
      };
    }
  });
  await page.goto(`${embedOrigin}/embed.html`, { waitUntil: 'load' });
  await page.waitForFunction(() => window.client !== undefined, null, { timeout: 15000 });
  await page.click('#go');
  await page.waitForFunction(() => window.client.state === 'live' || document.getElementById('err').textContent, null, {
    timeout: 30000,
  });
  await sleep(cfg.audioSeconds * 1000);
  await page.evaluate(() => window.client.stop());
  site.close();
  emit({
    event: 'result',
    origin: await page.evaluate(() => location.origin),
    finals: await page.evaluate(() => window.finals),
    error: await page.locator('#err').textContent(),
    state: await page.evaluate(() => window.client.state),
    responses,
    console: consoleLines,
  });
}
