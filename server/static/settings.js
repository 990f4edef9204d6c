// Connection settings: the API key or access token, and the language, kept in
// localStorage; an access token (`sst.…`, typed or from the URL fragment
// `#token=sst.…`) is used for this page only and never kept.

import { credentialKind, fragmentToken } from './credentials.js';

/** @param {string} key */
function stored(key) {
  try {
    return localStorage.getItem(`streamscribe.${key}`) ?? '';
  } catch {
    return '';
  }
}

/** @param {string} key @param {string} value */
function store(key, value) {
  try {
    localStorage.setItem(`streamscribe.${key}`, value);
  } catch {
    // private mode: settings last for this page only
  }
}

/**
 * @typedef {object} SettingsElements
 * @property {HTMLDetailsElement} details
 * @property {HTMLElement} form
 * @property {HTMLInputElement} apiKey
 * @property {HTMLInputElement} language
 */

export class Settings {
  /** @param {SettingsElements} elements */
  constructor(elements) {
    this.elements = elements;
  }

  /**
   * Fill the fields with what this browser kept (or the fragment's token), and
   * keep what is typed in them, tokens excepted.
   * @param {string} hash the page's URL fragment (`location.hash`)
   */
  bind(hash) {
    const { form, apiKey, language } = this.elements;
    apiKey.value = fragmentToken(hash) || stored('apiKey');
    language.value = stored('language');
    form.addEventListener('submit', (event) => event.preventDefault());
    apiKey.addEventListener('change', () => {
      if (this.credentialKind !== 'token') store('apiKey', this.credential);
    });
    language.addEventListener('change', () => store('language', this.language));
  }

  /** The key field's value: an API key or an access token, '' for none (credentials.js). */
  get credential() {
    return this.elements.apiKey.value.trim();
  }

  /** @returns {'token' | 'key' | ''} */
  get credentialKind() {
    return credentialKind(this.credential);
  }

  /** The language, '' for the server's default (auto). */
  get language() {
    return this.elements.language.value.trim();
  }

  /** Unfold the settings (to ask for an API key or token). */
  open() {
    this.elements.details.open = true;
  }
}
