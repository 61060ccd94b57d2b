# backup-policy-bot: `docker build -t backup-bot .` then
#   docker run --env-file .env -v "$PWD/access.toml:/app/access.toml:ro" -p 3000:3000 backup-bot
# Use PostgreSQL (BACKUP_BOT_DATABASE_URL) or mount a volume for the SQLite file, so approvals and the audit
# trail outlive the container.
# The base image by tag and digest (the multi-platform index), so a rebuild gets the same Python and Debian.
FROM python:3.12.12-slim-bookworm@sha256:593bd06efe90efa80dc4eee3948be7c0fde4134606dd40d8dd8dbcade98e669c

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PORT=3000 \
    BACKUP_BOT_DATABASE_URL=sqlite:////data/backup-bot.db
WORKDIR /app
# The dependencies exactly as locked, each checked against its hash, in a layer that a change of code keeps.
COPY requirements.lock ./
RUN pip install --no-deps --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
RUN pip install --no-deps . && useradd --system --uid 10001 bot && mkdir /data && chown bot /data
USER bot
VOLUME /data
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/healthz', timeout=4)"
CMD ["sh", "-c", "backup-bot migrate && exec backup-bot serve --port ${PORT}"]
