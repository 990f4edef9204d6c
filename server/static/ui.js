// What the page's modules share: its elements, grouped by the module that uses
// them, the alert boxes, and clock times. No state.

/**
 * The page's elements (index.html), one group per module.
 * @param {ParentNode} root
 */
export function pageElements(root) {
  /** @param {string} selector */
  const $ = (selector) => /** @type {HTMLElement} */ (root.querySelector(selector));
  return {
    /** live.js: the start/stop button, the source, the meter, the clock, the alert */
    live: {
      status: $('#status'),
      toggle: $('#toggle'),
      toggleLabel: $('#toggle .label'),
      source: /** @type {HTMLSelectElement} */ ($('#source')),
      meter: $('#meter'),
      meterCover: $('#meter .meter-cover'),
      clock: $('#clock'),
      alert: $('#alert'),
    },
    /** captions.js: the captions and their toolbar */
    captions: {
      box: $('#captions'),
      copy: /** @type {HTMLButtonElement} */ ($('#copy')),
      clear: /** @type {HTMLButtonElement} */ ($('#clear')),
      downloads: /** @type {HTMLButtonElement[]} */ ([...root.querySelectorAll('[data-download]')]),
    },
    /** settings.js: connection settings */
    settings: {
      details: /** @type {HTMLDetailsElement} */ ($('details.settings')),
      form: $('#settings-form'),
      apiKey: /** @type {HTMLInputElement} */ ($('#api-key')),
      language: /** @type {HTMLInputElement} */ ($('#language')),
    },
    /** upload.js: the file box */
    upload: {
      form: $('#upload-form'),
      file: /** @type {HTMLInputElement} */ ($('#upload-file')),
      submit: /** @type {HTMLButtonElement} */ ($('#upload-submit')),
      dropzone: $('#dropzone'),
      message: $('#upload-message'),
      result: $('#upload-result'),
    },
    /** the footer: server-status.js and embed.js */
    footer: {
      serverState: $('#server-state'),
      embed: $('#embed-snippet'),
    },
  };
}

/**
 * Show a message in an alert box (#alert, #upload-message).
 * @param {HTMLElement} element
 * @param {'info' | 'ok' | 'error'} kind
 * @param {string} title
 * @param {string} [detail]
 */
export function showAlert(element, kind, title, detail = '') {
  element.replaceChildren();
  element.dataset.kind = kind;
  const strong = document.createElement('strong');
  strong.textContent = title;
  element.append(strong);
  if (detail) element.append(` ${detail}`);
  element.hidden = false;
}

/** @param {HTMLElement} element */
export function hideAlert(element) {
  element.hidden = true;
  element.replaceChildren();
}

/**
 * `m:ss`, or `h:mm:ss` from an hour on.
 * @param {number} seconds
 */
export function clockText(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}
