// The footer's server state: polls readyz until the server is ready.

/**
 * Show whether the server is ready in `element`; ask again while it is not.
 * @param {HTMLElement} element
 */
export async function watchServer(element) {
  try {
    const response = await fetch('readyz', { cache: 'no-store' });
    const body = await response.json();
    element.textContent = body.ready ? `Server ready · ${body.detail}` : `Server starting · ${body.detail}`;
    if (!body.ready) setTimeout(() => watchServer(element), 5000);
  } catch {
    element.textContent = 'Server not reachable';
    setTimeout(() => watchServer(element), 10000);
  }
}
