# LeNet-5 teaching app (Streamlit), CPU-only.
#
#   docker build -t lenet5-app .            # or: docker compose up --build
#   docker run --rm -p 8501:8501 lenet5-app
#
# Build args
#   BASE          base image; anything that behaves like python:3.11-slim
#                 (docker/build-standin-base.sh builds a stand-in from Debian packages).
#   TORCH_INDEX   extra index holding the CPU-only torch wheels; set it empty when that
#                 index cannot be reached and wheels/ holds the torch wheel instead.
#   PIP_CERT, PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_TRUSTED_HOST
#                 optional pip settings for the build only (e.g. a CA bundle for a
#                 TLS-intercepting proxy); they are not kept in the final image.
# wheels/ (optional, in the build context): wheels pip prefers over any index
# (--find-links), e.g. the torch CPU wheel; only the installed result reaches the image.
# data/mnist/ (in the build context when the repository has it; docker/build.sh stages it):
# the four MNIST files, so that the image trains offline (the training page). Without
# them the build fetches them (`python -m lenet.data download`: the public mirrors).
#
# Runtime environment (the training page, see lenet/jobs.py):
#   LENET_TRAIN_JOBS        jobs that train at once (default 1; the rest wait in a queue)
#   LENET_TRAIN_QUEUE       jobs that may wait (default 20)
#   LENET_TRAIN_TIME_LIMIT  seconds a job may train (default 300)
#   LENET_TRAIN_MAX_MODELS  students' models kept server-wide (default 30; 3 a session)
#   LENET_DATA_DIR          the MNIST files (set to /opt/mnist below)

ARG BASE=python:3.11-slim

# ---- stage 1: dependencies in a self-contained venv -------------------------------
FROM ${BASE} AS deps

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ARG PIP_CERT=
ARG PIP_INDEX_URL=
ARG PIP_EXTRA_INDEX_URL=
ARG PIP_TRUSTED_HOST=

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# "wheels*" matches nothing when there is no wheels/ folder; requirements.txt keeps the
# COPY valid either way. The contents of wheels/ land next to requirements.txt.
COPY requirements.txt wheels* /wheels/

RUN set -eu; \
    python -m venv /opt/venv; \
    extra=""; \
    for url in ${TORCH_INDEX} ${PIP_EXTRA_INDEX_URL}; do extra="$extra --extra-index-url $url"; done; \
    PIP_EXTRA_INDEX_URL= /opt/venv/bin/pip install --no-input --find-links /wheels $extra \
        -r /wheels/requirements.txt; \
    /opt/venv/bin/python -c "import torch, streamlit; print('torch', torch.__version__, '| streamlit', streamlit.__version__); assert torch.version.cuda is None, 'a CUDA build of torch was installed'"; \
    # Drop what the app never loads, to stay well under 1.5 GB: test suites, torch's C++
    # headers and test binaries (only needed to compile extensions / torch.compile).
    site=$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
    rm -rf "$site/torch/test" "$site/torch/include" "$site"/torch/bin/test_* "$site"/torch/bin/protoc*; \
    find "$site" -depth -type d -name tests -exec rm -rf {} +; \
    /opt/venv/bin/python -c "import torch, streamlit, pandas, pyarrow, plotly, safetensors, PIL; torch.nn.functional.conv2d(torch.zeros(1, 1, 32, 32), torch.zeros(6, 1, 5, 5))"

# ---- stage 2: the MNIST files, checked against their SHA-256 ------------------------
FROM deps AS mnist
# requirements.txt keeps the COPY valid when the context has no data/mnist.
COPY requirements.txt data/mnis[t]* /opt/mnist/
COPY lenet/ /src/lenet/
# (a stub app for pipeline tests, docker/build.sh --stub-app, has no lenet/data.py)
RUN rm /opt/mnist/requirements.txt; [ ! -f /src/lenet/data.py ] \
 || (cd /src && /opt/venv/bin/python -m lenet.data download --root /opt/mnist --quiet)

# ---- stage 3: runtime ---------------------------------------------------------------
FROM ${BASE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    HOME=/home/app \
    LENET_DATA_DIR=/opt/mnist \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false
# Everything else (headless, file watcher off, XSRF, upload limit...) comes from the same
# .streamlit/config.toml that local runs use; it is read from the working directory.

# Unprivileged user; it owns only its home directory, not the code or the models.
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /home/app --create-home \
        --shell /usr/sbin/nologin app

# Dependencies first (changes rarely), code last (changes often).
COPY --from=deps /opt/venv /opt/venv
COPY --from=mnist /opt/mnist/ /opt/mnist/

WORKDIR /app
COPY .streamlit/ ./.streamlit/
COPY lenet/ ./lenet/
COPY models/ ./models/
COPY pages/ ./pages/
COPY app.py ./
# Files stay root-owned; make sure they are world-readable and nothing is writable.
RUN chmod -R a+rX,go-w /app

USER 10001:10001
EXPOSE 8501

HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; r = urllib.request.urlopen('http://localhost:8501/_stcore/health', timeout=4); sys.exit(0 if r.status == 200 else 1)"]

CMD ["python", "-m", "lenet.server", "--server.address=0.0.0.0", "--server.port=8501"]
