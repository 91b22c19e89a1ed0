# paywatch: runs `paywatch run` against an external PostgreSQL given by PAYWATCH_DATABASE_URL.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PAYWATCH_API_HOST=0.0.0.0 \
    PAYWATCH_API_PORT=8080 \
    PAYWATCH_LOG_FORMAT=json \
    PAYWATCH_DATA_DIR=/var/lib/paywatch

RUN groupadd --system paywatch \
    && useradd --system --gid paywatch --home-dir /var/lib/paywatch --create-home paywatch

WORKDIR /app
COPY pyproject.toml README.md ./
COPY paywatch ./paywatch
COPY api ./api
COPY watcher ./watcher
COPY db ./db
COPY migrations ./migrations
COPY simnet ./simnet
RUN pip install --no-cache-dir . && rm -rf /app

USER paywatch
WORKDIR /var/lib/paywatch
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["paywatch"]
CMD ["run"]
