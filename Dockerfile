# syntax=docker/dockerfile:1.7
# DreamSeed production image: one image for every process (API services, relay, migrate,
# dashboards, Dagster webserver/daemon). Build from the repository root:
#   docker build -t dreamseed:$(git rev-parse --short HEAD) .
# The environment comes from uv.lock exactly (--frozen): no resolution at build time.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder
# Same uv as the Makefile, from PyPI.
ARG UV_VERSION=0.13.8
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app

# 1) Dependencies only (cached while pyproject.toml/uv.lock do not change).
#    --no-dev drops the dev group; --no-group bench drops the benchmark baselines (both are in
#    tool.uv.default-groups). The psychometrics engine is a workspace member: its pyproject.toml
#    is needed to read the workspace, and it is installed with the project in step 2.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    --mount=type=bind,source=psychometrics/pyproject.toml,target=psychometrics/pyproject.toml \
    uv sync --frozen --no-dev --no-group bench --no-install-workspace

# 2) The project itself (installed editable into /app/.venv, so package data such as
#    governance/policies, core/migrations and transforms/dbt stay where the code expects them).
COPY . /app
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-group bench

# 3) dbt manifest at build time (offline: no database, no packages), so Dagster does not parse
#    the project on every start.
RUN DBT_SEND_ANONYMOUS_USAGE_STATS=false /app/.venv/bin/dbt parse --quiet \
        --project-dir transforms/dbt --profiles-dir transforms/dbt \
    && rm -rf transforms/dbt/logs

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="dreamseed" \
      org.opencontainers.image.source="https://github.com/dreamseed/dreamseed" \
      org.opencontainers.image.licenses="Apache-2.0"

RUN groupadd --system --gid 10001 dreamseed \
    && useradd --system --uid 10001 --gid 10001 --home-dir /home/dreamseed --create-home \
       --shell /usr/sbin/nologin dreamseed

ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/home/dreamseed \
    DAGSTER_HOME=/opt/dagster/home \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    DREAMSEED_STATE_DIR=/tmp/dreamseed \
    DREAMSEED_API_HOST=0.0.0.0 \
    DREAMSEED_ENVIRONMENT=production

WORKDIR /app
# Code and environment are owned by root: the service user can read but not change them.
COPY --from=builder /app /app
# Writable only where a process must write: dbt's target/logs (Dagster runs), DAGSTER_HOME.
COPY infra/docker/dagster.yaml /opt/dagster/home/dagster.yaml
RUN mkdir -p /app/transforms/dbt/logs /opt/dagster/home/storage \
    && chown -R 10001:10001 /app/transforms/dbt /opt/dagster/home

USER 10001:10001
EXPOSE 8000 8050 3000
# Liveness of the default process (`dreamseed serve`): /health answers while the process serves,
# whatever PostgreSQL or Redis do (/ready is for traffic routing, not for restarts). Other
# processes run from this image set their own check (compose) or probes (Kubernetes ignores
# HEALTHCHECK); a one-shot command such as `migrate` disables it.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('DREAMSEED_API_PORT', '8000') + '/health', timeout=4)"]
ENTRYPOINT ["dreamseed"]
CMD ["serve"]
