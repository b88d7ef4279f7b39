# releasebot: `releasebot serve` in a slim image, as a non-root user.
#   docker build -t releasebot .
#   docker run --env-file releasebot.env -v "$PWD/runbooks:/etc/releasebot/runbooks:ro" \
#     -p 3000:3000 releasebot                  # serve (the default command)
#   docker run ... releasebot db upgrade         # any other command
# compose.yaml runs it with PostgreSQL; README "Production checklist" says what else to set.

FROM python:3.11-slim AS wheels
WORKDIR /src
COPY pyproject.toml setup.py MANIFEST.in README.md ./
COPY bot ./bot
COPY templates ./templates
COPY runbooks ./runbooks
COPY examples ./examples
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RELEASEBOT_RUNBOOKS=/etc/releasebot/runbooks
COPY --from=wheels /wheels /wheels
RUN pip install /wheels/*.whl && rm -rf /wheels \
    && useradd --system --create-home --uid 10001 releasebot \
    && mkdir -p /etc/releasebot/runbooks /var/lib/releasebot \
    && chown releasebot /var/lib/releasebot
USER releasebot
WORKDIR /var/lib/releasebot
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:3000/healthz', timeout=4).status != 200)"]
ENTRYPOINT ["releasebot"]
CMD ["serve", "--host", "0.0.0.0", "--port", "3000"]
