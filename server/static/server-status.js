// The footer's server state: polls readyz until the server is ready.

/**
 * Show whether the server is ready in `element`; ask again while it is not.
 * @param {HTMLElement} element
 */
export async function watchServer(element) {
  try {
    const response = await fetch('readyz', { cache: 'no-store' });
    const body = await response.json();
    // A server with API keys tells only whether it is ready (the details are for monitoring).
    const detail = body.detail ? ` · ${body.detail}` : '';
    element.textContent = `${body.ready ? 'Server ready' : 'Server starting'}${detail}`;
    if (!body.ready) setTimeout(() => watchServer(element), 5000);
  } catch {
    element.textContent = 'Server not reachable';
    setTimeout(() => watchServer(element), 10000);
  }
}
