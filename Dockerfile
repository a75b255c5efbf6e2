# minidiscord in a container:
#
#   docker build -t minidiscord .
#   docker run -p 8181:8181 -v minidiscord-data:/data minidiscord
#
# The database lives on the /data volume and survives new containers. Settings are
# MINIDISCORD_* variables (`docker run -e MINIDISCORD_ALLOWED_HOSTS=chat.example.com ...`;
# see `minidiscord --help`). `docker stop` sends SIGTERM and starts the graceful drain, which
# takes up to MINIDISCORD_SHUTDOWN_TIMEOUT (10 s): give it longer than that (`docker stop -t 20`).
# The username rules need ICU: on x86_64 it comes in a wheel; on other machines pyicu is built
# from source, which needs `apt-get install -y g++ pkg-config libicu-dev` before `pip install`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY minidiscord ./minidiscord
RUN pip install . \
    && rm -rf /src \
    && useradd --uid 10001 --user-group --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin minidiscord \
    && mkdir /data \
    && chown minidiscord:minidiscord /data

USER minidiscord
WORKDIR /data
VOLUME ["/data"]
ENV MINIDISCORD_DB=/data/minidiscord.db \
    MINIDISCORD_PORT=8181
EXPOSE 8181

# /healthz answers 200 while the server serves and its store answers (503 while it drains).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; url = 'http://127.0.0.1:%s/healthz' % os.environ.get('MINIDISCORD_PORT', '8181'); sys.exit(0 if urllib.request.urlopen(url, timeout=4).status == 200 else 1)"]

STOPSIGNAL SIGTERM
# Every interface of the container: its port is only reachable where `docker run -p` publishes it.
CMD ["minidiscord", "--host", "0.0.0.0"]
