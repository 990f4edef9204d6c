# streamscribe: one image for gateways and workers (distributed mode) or `serve` (embedded).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    STREAMSCRIBE_HOST=0.0.0.0 STREAMSCRIBE_PORT=8000 STREAMSCRIBE_ARCHIVE_DIR=/data/archive \
    STREAMSCRIBE_MODEL_CACHE_DIR=/data/cache

RUN apt-get update \
    && apt-get install -y --no-install-recommends libmagic1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY streaming ./streaming
COPY server ./server
# The browser client is served from the checkout's client-js/ (its single source), so
# the package is installed in place rather than copied into site-packages.
COPY client-js ./client-js
RUN pip install -e ".[worker]"

RUN useradd --create-home --uid 10001 streamscribe && mkdir -p /data && chown streamscribe /data
USER streamscribe
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"STREAMSCRIBE_PORT\"]}/healthz', timeout=2)" || exit 1
ENTRYPOINT ["streamscribe"]
CMD ["serve"]
