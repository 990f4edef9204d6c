// Connection settings: the API key and the language, kept in localStorage.

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

  /** Fill the fields with what this browser kept, and keep what is typed in them. */
  bind() {
    const { form, apiKey, language } = this.elements;
    apiKey.value = stored('apiKey');
    language.value = stored('language');
    form.addEventListener('submit', (event) => event.preventDefault());
    apiKey.addEventListener('change', () => store('apiKey', this.apiKey));
    language.addEventListener('change', () => store('language', this.language));
  }

  /** The API key, '' for none. */
  get apiKey() {
    return this.elements.apiKey.value.trim();
  }

  /** The language, '' for the server's default (auto). */
  get language() {
    return this.elements.language.value.trim();
  }

  /** Unfold the settings (to ask for an API key). */
  open() {
    this.elements.details.open = true;
  }
}
