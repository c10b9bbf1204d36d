"""Prometheus metrics: the RPC series every server records and the metrics HTTP endpoint."""

from __future__ import annotations

import logging

from prometheus_client import Counter, Histogram, start_http_server

log = logging.getLogger(__name__)

RPC_HANDLED = Counter(
    "grpc_server_handled_total",
    "RPCs completed on the server, by method and status code.",
    ["grpc_service", "grpc_method", "grpc_code"],
)
RPC_SECONDS = Histogram(
    "grpc_server_handling_seconds",
    "RPC handling time on the server.",
    ["grpc_service", "grpc_method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def serve_metrics(port: int, host: str = "0.0.0.0") -> None:
    """Expose /metrics on the port; 0 or a negative port turns the endpoint off."""
    if port <= 0:
        return
    start_http_server(port, addr=host)
    log.info("metrics listening", extra={"port": port})
