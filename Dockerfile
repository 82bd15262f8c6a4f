# syntax=docker/dockerfile:1
#
# Two images from the repository root (the build context; .dockerignore keeps data, virtualenvs and runs out):
#
#   pipeline  the ZenML parent image: the locked pipeline environment (requirements/pipeline.lock), then the
#             project source. Use it with DockerSettings(parent_image=..., user="app").
#               docker build --target pipeline --build-arg TORCH_VARIANT=cpu -t arxiv-pipeline .
#               docker build --target pipeline --build-arg TORCH_VARIANT=cu126 -t arxiv-pipeline-gpu .
#   serving   the Seldon Core 1.18 microservice: serving/requirements.lock (the file the local deployer's
#             serving virtualenv installs) and the serving modules (serving/arxiv_model.py and the
#             onnx_runner.py and request_logger.py it imports), nothing else of the repository; no torch.
#               docker build --target serving -t arxiv-serving .
#
# Both install their lock file before copying any source, so editing code does not re-run the install.

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS base

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# One virtualenv per image, owned by root (read-only for the runtime user); a numeric non-root user
# (uid 1000) so Kubernetes' runAsNonRoot can verify it.
RUN python -m venv /opt/venv \
 && pip install --compile --upgrade "pip>=24" \
 && groupadd --gid 1000 app \
 && useradd --uid 1000 --gid 1000 --create-home --home-dir /home/app --shell /usr/sbin/nologin app

# ---------------------------------------------------------------------------------------------------------
FROM base AS pipeline

# cpu: PyTorch's CPU wheels (small); cu126, cu128, ...: a CUDA build from PyTorch's index; pypi: PyPI's
# default torch wheel (CUDA on Linux x86_64).
ARG TORCH_VARIANT=cpu

WORKDIR /app

# Dependencies first (cached while requirements/pipeline.lock is unchanged); --compile writes bytecode now,
# so no step pays for compiling imports at start-up.
COPY requirements/pipeline.lock requirements/pipeline.lock
# $torch_index is unquoted on purpose: it is empty or two words (an option and its value).
# hadolint ignore=SC2086
RUN set -eu; \
    if [ "$TORCH_VARIANT" = "pypi" ]; then torch_index=""; \
    else torch_index="--extra-index-url https://download.pytorch.org/whl/${TORCH_VARIANT}"; fi; \
    pip install --compile $torch_index -r requirements/pipeline.lock

# Then the project source.
COPY . .
RUN python -m compileall -q /app \
 && chown -R app:app /app

# TOKENIZERS_PARALLELISM is the tokenizers library's switch, not a secret (DL3064 matches "TOKEN").
# hadolint ignore=DL3064
ENV PYTHONPATH=/app \
    TOKENIZERS_PARALLELISM=false

# No USER here on purpose: ZenML builds its step image FROM this one and its generated Dockerfile copies
# the code, runs `chmod -R a+rw .` and may `pip install` extra requirements, which needs root. ZenML's
# DockerSettings(user="app") then chowns /app and switches the final image to this non-root user.

# ---------------------------------------------------------------------------------------------------------
FROM base AS serving

# The serving environment only (seldon-core, ONNX Runtime, tokenizers; no torch): seldon-core's pins
# (click<8.1, protobuf<4, numpy<2, Flask<3) cannot share an environment with ZenML.
COPY serving/requirements.lock /tmp/serving-requirements.lock
RUN pip install --compile -r /tmp/serving-requirements.lock \
 && rm /tmp/serving-requirements.lock

WORKDIR /microservice
# The serving class and its sibling modules (it imports them by plain name from /microservice).
COPY serving/arxiv_model.py serving/onnx_runner.py serving/request_logger.py /microservice/
RUN python -m compileall -q /microservice

# Seldon's storage initializer (an init container) copies modelUri to /mnt/models; the class reads
# MODEL_DIR (or its model_dir parameter). Ports are Seldon's defaults: REST 9000, metrics 6000 (the
# operator sets the same variables). Gunicorn workers/threads come from GUNICORN_WORKERS/GUNICORN_THREADS
# and the class's parameters from PREDICTIVE_UNIT_PARAMETERS, both set per deployment.
# TOKENIZERS_PARALLELISM is the tokenizers library's switch, not a secret (DL3064 matches "TOKEN").
# hadolint ignore=DL3064
ENV PYTHONPATH=/microservice \
    MODEL_DIR=/mnt/models \
    PERSISTENCE=0 \
    PREDICTIVE_UNIT_HTTP_SERVICE_PORT=9000 \
    PREDICTIVE_UNIT_METRICS_SERVICE_PORT=6000 \
    GUNICORN_WORKERS=1 \
    GUNICORN_THREADS=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    HOME=/home/app

EXPOSE 9000 6000
USER 1000:1000

ENTRYPOINT ["seldon-core-microservice", "arxiv_model.ArxivClassifier", "--service-type", "MODEL", "--grpc-workers", "0"]
