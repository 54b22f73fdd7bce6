# Build a wheel of honeytrace, then install it into a slim runtime that runs as a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY canaries ./canaries
COPY watchers ./watchers
COPY attribution ./attribution
COPY migrations ./migrations
RUN python3 -m venv /opt/honeytrace && /opt/honeytrace/bin/pip install -q .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin honeytrace \
    && mkdir -p /var/lib/honeytrace && chown honeytrace /var/lib/honeytrace
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
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["honeytrace", "serve"]
