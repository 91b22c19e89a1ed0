"""Prometheus metrics, all named paywatch_*. The default registry also carries process metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "paywatch_http_requests_total", "HTTP requests served", ["method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "paywatch_http_request_duration_seconds", "HTTP request duration", ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
READY = Gauge("paywatch_ready", "1 when the database is reachable and migrations are current")
BUILD_INFO = Gauge("paywatch_build_info", "Build information", ["version"])
PAYMENTS_CREATED = Counter(
    "paywatch_payments_created_total", "Payments created", ["chain", "asset"]
)
PAYMENTS_CONFIRMED = Counter(
    "paywatch_payments_confirmed_total", "Payments confirmed", ["chain", "asset"]
)
