"""The HTTP and WebSocket endpoints (Starlette): the app, the live socket,
uploads, recordings, the page, serving with uvicorn."""
