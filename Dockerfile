# Install the locked dependencies (requirements.lock, every wheel checked against its hash), then
# honeytrace itself without resolving anything, into a slim runtime that runs as a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY requirements.lock ./
RUN python3 -m venv /opt/honeytrace \
    && /opt/honeytrace/bin/pip install -q --no-cache-dir --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY app ./app
COPY canaries ./canaries
COPY watchers ./watchers
COPY attribution ./attribution
COPY migrations ./migrations
RUN /opt/honeytrace/bin/pip install -q --no-cache-dir --no-deps .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin honeytrace \
    && mkdir -p /var/lib/honeytrace/spool /var/lib/honeytrace/evidence \
    && chown -R honeytrace /var/lib/honeytrace
COPY --from=build /opt/honeytrace /opt/honeytrace
ENV PATH=/opt/honeytrace/bin:$PATH \
    HONEYTRACE_ENVIRONMENT=production \
    HONEYTRACE_HOST=0.0.0.0 \
    HONEYTRACE_DATABASE_URL=sqlite:////var/lib/honeytrace/honeytrace.db
USER honeytrace
WORKDIR /var/lib/honeytrace
VOLUME /var/lib/honeytrace
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('HONEYTRACE_PORT', '8000'), timeout=4)"]
CMD ["honeytrace", "serve"]
