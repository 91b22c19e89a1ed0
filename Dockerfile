# paywatch: runs `paywatch run` against an external PostgreSQL given by PAYWATCH_DATABASE_URL.
# Two stages: the first installs paywatch and its pinned dependencies into a virtualenv, the
# second copies only that virtualenv onto a clean base (no sources, no pip cache, no build
# leftovers). deploy/compose.yaml builds this image for its API and watcher processes.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/paywatch
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY paywatch ./paywatch
COPY api ./api
COPY watcher ./watcher
COPY db ./db
COPY migrations ./migrations
COPY simnet ./simnet
# Pinned: every library at the version in constraints.txt (see its header to regenerate).
# Not editable: the package lands in the virtualenv, so the sources stay behind in this stage.
RUN /opt/paywatch/bin/pip install -c constraints.txt .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/paywatch/bin:$PATH \
    PAYWATCH_API_HOST=0.0.0.0 \
    PAYWATCH_API_PORT=8080 \
    PAYWATCH_LOG_FORMAT=json \
    PAYWATCH_DATA_DIR=/var/lib/paywatch

RUN groupadd --system paywatch \
    && useradd --system --gid paywatch --home-dir /var/lib/paywatch --create-home paywatch
COPY --from=build /opt/paywatch /opt/paywatch

USER paywatch
WORKDIR /var/lib/paywatch
# Local state (the embedded PostgreSQL when no PAYWATCH_DATABASE_URL is given) outlives the
# container.
VOLUME /var/lib/paywatch
# The default PAYWATCH_API_PORT; a container run with another one publishes that instead.
EXPOSE 8080
# The port is read from the container's environment when the check runs, so
# `-e PAYWATCH_API_PORT=9000` is checked on 9000.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; url = 'http://127.0.0.1:%s/healthz' % os.environ['PAYWATCH_API_PORT']; sys.exit(0 if urllib.request.urlopen(url, timeout=2).status == 200 else 1)"]
ENTRYPOINT ["paywatch"]
CMD ["run"]
