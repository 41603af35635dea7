# syntax=docker/dockerfile:1
#
# loa images: ONE Dockerfile, TWO final targets built from the same wheel.
#
#   docker build --target loa       -t loa:VERSION .        # gateway, publishing, feedback, search,
#                                                           # migrations, `loa events dlq ...`
#   docker build --target loa-media -t loa-media:VERSION .  # media (the same + ffmpeg/ffprobe)
#
# The code and its dependencies are identical in both (one `pip install` in the build stage);
# only media carries ffmpeg and its ~100 codec libraries, so the four other services do not ship
# that size and CVE surface. Which service a container runs is its command: `loa serve <service>`.
#
# Base image pinned to a Python patch release on Debian 12 and to its multi-arch index digest;
# refresh both together (`docker buildx imagetools inspect python:3.11.14-slim-bookworm`).

############################ build: a virtualenv with loa and its pinned dependencies
FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
RUN python -m venv /opt/loa
# Dependencies first (cached while only the code changes): every version comes from constraints.txt.
COPY pyproject.toml constraints.txt ./
COPY loa/__init__.py loa/__init__.py
RUN /opt/loa/bin/pip install --no-cache-dir -c constraints.txt "setuptools>=68" wheel \
 && /opt/loa/bin/pip install --no-cache-dir -c constraints.txt .
COPY loa ./loa
COPY shared ./shared
COPY services ./services
# Reinstall loa itself (dependencies are already there) and compile its bytecode now, because the
# root file system is read-only at run time.
RUN /opt/loa/bin/pip install --no-cache-dir --no-deps --force-reinstall -c constraints.txt . \
 && /opt/loa/bin/python -m compileall -q /opt/loa/lib/python3.11/site-packages \
 && /opt/loa/bin/loa config >/dev/null

############################ loa: every service but media
FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d AS loa

ARG LOA_UID=10001
LABEL org.opencontainers.image.title="loa" \
      org.opencontainers.image.description="loa services (gateway, publishing, feedback, search)" \
      org.opencontainers.image.licenses="Proprietary"

ENV PATH=/opt/loa/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LOA_DATA_DIR=/var/lib/loa \
    LOA_LOG_FORMAT=json

RUN groupadd --system --gid "${LOA_UID}" loa \
 && useradd --system --uid "${LOA_UID}" --gid loa --home-dir /var/lib/loa --no-create-home \
        --shell /usr/sbin/nologin loa \
 && mkdir -p /var/lib/loa \
 && chown loa:loa /var/lib/loa

COPY --from=build /opt/loa /opt/loa
COPY deploy/docker/healthcheck.py /opt/loa/bin/loa-healthcheck

USER 10001:10001
WORKDIR /var/lib/loa
VOLUME ["/var/lib/loa"]
EXPOSE 8000 8081

# Ready = the process answers /readyz on the gateway port (8000) or on a lone service's health
# port (8081). Kubernetes ignores this and uses the probes in deploy/k8s.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "/opt/loa/bin/loa-healthcheck"]

ENTRYPOINT ["loa"]
CMD ["start"]

############################ loa-media: the same plus ffmpeg/ffprobe, for `loa serve media`
FROM loa AS loa-media

LABEL org.opencontainers.image.title="loa-media" \
      org.opencontainers.image.description="loa media service (with ffmpeg)"

USER 0:0
# Debian 12's ffmpeg 5.1 line; the wildcard keeps Debian security updates of that line.
RUN apt-get update \
 && apt-get install -y --no-install-recommends "ffmpeg=7:5.1.*" \
 && rm -rf /var/lib/apt/lists/* \
 && ffmpeg -hide_banner -version >/dev/null \
 && ffprobe -hide_banner -version >/dev/null
USER 10001:10001

CMD ["serve", "media"]
