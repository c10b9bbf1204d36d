# One image for every process of docker-compose.yml; the command picks the process.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY proto ./proto
COPY scripts ./scripts
COPY svckit ./svckit
COPY devstack ./devstack
COPY inventory_svc ./inventory_svc
COPY payment_svc ./payment_svc
COPY notify_svc ./notify_svc
COPY orchestrator ./orchestrator
COPY gateway ./gateway
RUN pip install --no-cache-dir . && python scripts/gen_protos.py
ENV PYTHONUNBUFFERED=1
