# storybot's image: Python slim, the CPU build of torch, every other package as requirements.lock
# pins it (hashes checked), the ONNX model exported at build time, a non-root user.
# Not built here: no image registry is reachable from this project's machines (deploy/README.md).
#   docker build -t storybot .
#   docker run --init --env-file storybot.env -v storybot-data:/srv/storybot \
#       -v storybot-state:/var/lib/storybot -p 127.0.0.1:8080:8080 storybot
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    XDG_CACHE_HOME=/var/cache/storybot

RUN useradd --system --user-group --home-dir /var/lib/storybot --no-create-home \
        --shell /usr/sbin/nologin storybot

WORKDIR /opt/storybot
# torch first, from its CPU build at the version of scripts/setup (a bare torch requirement pulls
# multi-GB CUDA wheels); the lock leaves torch out and holds torch's own requirements, so torch
# comes without them and everything else is installed exactly as locked, each file hash-checked.
COPY requirements.lock ./
RUN python -m venv .venv \
 && .venv/bin/pip install --no-deps --index-url https://download.pytorch.org/whl/cpu \
        "torch==2.13.0" \
 && .venv/bin/pip install --require-hashes -r requirements.lock

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY index ./index
RUN .venv/bin/pip install --no-deps -e . && .venv/bin/pip check

# Paths as deploy/storybot.toml names them: the corpus and index (shared by replicas), the
# state file, the ONNX export (made now, so no container exports it at start).
COPY deploy/storybot.toml /etc/storybot/config.toml
RUN mkdir -p /srv/storybot/corpus /srv/storybot/index /var/lib/storybot/state /var/cache/storybot \
 && cd /tmp && /opt/storybot/.venv/bin/python -c "from bot.config import load_config; \
from bot.runtime import make_embedder; make_embedder(load_config('/etc/storybot/config.toml'))" \
 && chown -R storybot:storybot /srv/storybot /var/lib/storybot /var/cache/storybot

USER storybot
WORKDIR /var/lib/storybot
VOLUME ["/srv/storybot", "/var/lib/storybot"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s \
    CMD ["/opt/storybot/.venv/bin/python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
# Secrets come from the environment (--env-file): TELEGRAM_BOT_TOKEN, STORYBOT_ADMIN_TOKEN,
# STORYBOT_WEBHOOK_SECRET. Add --webhook to the command for webhook mode.
ENTRYPOINT ["/opt/storybot/.venv/bin/storybot", "--config", "/etc/storybot/config.toml"]
CMD ["serve"]
