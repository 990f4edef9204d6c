// The live-caption page (index.html): wires the modules next to it to its
// elements. Each module owns one part of the page and gets what it needs
// passed in:
//   ui.js             the page's elements by part, alert boxes, clock text
//   settings.js       Settings: API key (or access token) and language, kept in localStorage
//   credentials.js    API key or access token (sst.…, or #token= in the URL): how each is sent
//   captions.js       CaptionView: interims and finals as lines, the transcript, copy/download/clear
//   live.js           LiveCaptions: start/stop, audio source, meter, clock, status, alerts
//   messages.js       what the page says about the client's errors
//   upload.js         UploadBox: transcribe a file, its segments and downloads
//   export.js         TXT/SRT/VTT downloads, the clipboard
//   server-status.js  the footer's server state (readyz)
//   embed.js          the footer's embed snippet
// The browser client itself is served under /client/ (client-js/ of the repository).

import { CaptionView } from './captions.js';
import { showEmbedSnippet } from './embed.js';
import { LiveCaptions } from './live.js';
import { watchServer } from './server-status.js';
import { Settings } from './settings.js';
import { pageElements } from './ui.js';
import { UploadBox } from './upload.js';

const ui = pageElements(document);

const settings = new Settings(ui.settings);
settings.bind(location.hash);
showEmbedSnippet(ui.footer.embed, location.href);

const captions = new CaptionView(ui.captions);
captions.bindToolbar();

const live = new LiveCaptions(ui.live, { captions, settings });
live.bind();

void watchServer(ui.footer.serverState);

new UploadBox(ui.upload, settings).bind();

live.setStatus('idle');
captions.updateToolbar();
