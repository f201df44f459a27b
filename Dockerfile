# syntax=docker/dockerfile:1
# Socket Rush image. Configure it like the CLI, through environment variables or flags:
#   docker run -p 6001:6001 -e APP_ID=123 -e APP_KEY=my-key -e APP_SECRET=my-secret \
#     socketrush/socketrush
#   docker run -p 6001:6001 -v ./config.json:/app/config.json:ro \
#     socketrush/socketrush --config-file /app/config.json
# Every setting is listed in docs/configuration.md.

# --- build: install the package and its dependencies into a self-contained venv -------------
FROM python:3.11-slim AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml setup.py MANIFEST.in README.md settings.toml ./
COPY actors ./actors
COPY socketrush ./socketrush
# The `aws` extra (boto3) serves --app-manager dynamodb, --queue-driver sqs and SNS webhooks.
RUN --mount=type=cache,target=/root/.cache/pip /opt/venv/bin/pip install '.[aws]'

# --- runtime: the venv only, no sources or build caches ---------------------------------------
FROM python:3.11-slim

LABEL org.opencontainers.image.title="Socket Rush" \
      org.opencontainers.image.description="Self-hosted Pusher Channels protocol 7 server" \
      org.opencontainers.image.licenses="MIT"

# A fixed numeric id, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
RUN groupadd --system --gid 10001 socketrush \
    && useradd --system --uid 10001 --gid socketrush --no-create-home \
       --shell /usr/sbin/nologin socketrush

COPY --from=build /opt/venv /opt/venv

# No PORT or BIND_ADDRESS here: an ENV would outrank the JSON config file, and the built-in
# defaults (6001 on 0.0.0.0) already suit a container.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# The default `.env` path is ./.env: mount one at /app/.env to configure through a file.
WORKDIR /app
USER 10001:10001

# 6001: WebSocket and HTTP API; 9601: reserved for the Prometheus metrics endpoint.
EXPOSE 6001 9601

# GET / answers "OK" while the server runs; no curl in slim images, so Python's urllib asks.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '6001') + '/', timeout=2)"]

# SIGTERM (docker stop) closes connections within SHUTDOWN_GRACE_PERIOD (10 s by default);
# give `docker stop --time` / compose `stop_grace_period` a little more than that.
ENTRYPOINT ["socketrush", "serve"]
