// The footer's embed snippet: the import line for this server's browser client.

/**
 * @param {HTMLElement} element
 * @param {string} pageUrl the page's address (the client is served under client/ next to it)
 */
export function showEmbedSnippet(element, pageUrl) {
  element.textContent = `import { StreamscribeClient } from '${new URL('client/streamscribe.js', pageUrl)}'`;
}
