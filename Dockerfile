# The engine image: the gateway (`ticketwar run`, serving the web UI) and shard workers
# (`python -m shards`).
FROM node:20-slim AS webui
WORKDIR /webui
COPY webui/package.json webui/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY webui ./
RUN npm run build

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/*
COPY setup.cfg pyproject.toml README.md ./
COPY engine ./engine
COPY gateway ./gateway
COPY shards ./shards
COPY ops ./ops
COPY --from=webui /webui/dist ./webui/dist
RUN pip install . && useradd --system --uid 10001 ticketwar
USER ticketwar
EXPOSE 8080 9100
CMD ["ticketwar", "run"]
