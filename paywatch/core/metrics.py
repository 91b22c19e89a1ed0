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
HTTP_MALFORMED = Counter(
    "paywatch_http_malformed_requests_total",
    "Requests refused with 400 before routing because they are not valid HTTP", ["error"],
)
HTTP_CLIENT_DISCONNECTS = Counter(
    "paywatch_http_client_disconnects_total",
    "Requests whose client hung up before its body was read (counted as status 499)",
)
READY = Gauge("paywatch_ready", "1 when the database is reachable and migrations are current")
BUILD_INFO = Gauge("paywatch_build_info", "Build information", ["version"])
PAYMENTS_CREATED = Counter(
    "paywatch_payments_created_total", "Payments created", ["chain", "asset"]
)
PAYMENTS_CONFIRMED = Counter(
    "paywatch_payments_confirmed_total", "Payments confirmed", ["chain", "asset"]
)
RPC_REQUESTS = Counter(
    "paywatch_rpc_requests_total", "JSON-RPC requests to chain nodes",
    ["method", "endpoint", "outcome"],
)
RPC_LATENCY = Histogram(
    "paywatch_rpc_latency_seconds", "JSON-RPC request latency", ["method", "endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
NOTIFICATIONS = Counter(
    "paywatch_ws_notifications_total", "WebSocket notifications received", ["chain"]
)
WS_RECONNECTS = Counter("paywatch_ws_reconnects_total", "WebSocket reconnects", ["chain"])
OPEN_PAYMENTS = Gauge("paywatch_open_payments", "Payments being watched", ["chain"])
QUEUE_DEPTH = Gauge("paywatch_watcher_queue_depth", "Signatures waiting to be fetched",
                    ["chain"])
TRANSFERS_REJECTED = Counter(
    "paywatch_transfers_rejected_total", "Transfers that mention a payment but do not pay it",
    ["chain", "reason"],
)
TRANSFERS_UNMATCHED = Counter(
    "paywatch_transfers_unmatched_total",
    "Transfers into a watched account that paid no payment (recorded in the store's inbox)",
    ["chain"],
)
# Set from the database by the refresh_inbox_gauge job (every paywatch process reports the same
# database-wide count: aggregate with max, not sum).
INBOX_OPEN = Gauge(
    "paywatch_inbox_open_transfers",
    "Unmatched transfers waiting in the stores' inboxes (not assigned, dismissed or reverted)",
    ["chain"],
)
SECONDS_TO_CONFIRM = Histogram(
    "paywatch_seconds_from_detected_to_confirmed",
    "From a payment's first detection to its confirmation", ["chain"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
BACKFILL_SIGNATURES = Counter(
    "paywatch_backfill_signatures_total", "Signatures read during backfill", ["chain"]
)
SLOT_LAG = Gauge("paywatch_slot_lag",
                 "Slots between the WebSocket's newest slot and the RPC node's confirmed slot",
                 ["chain"])
EVM_BLOCKS = Counter("paywatch_evm_blocks_total", "EVM blocks processed", ["chain", "phase"])
EVM_REORGS = Counter("paywatch_evm_reorgs_total", "EVM reorgs followed", ["chain"])
EVM_REORG_DEPTH = Histogram("paywatch_evm_reorg_depth_blocks", "Blocks orphaned per reorg",
                            ["chain"], buckets=(1, 2, 3, 5, 8, 13, 21, 64, 256))
EVM_HEAD_LAG = Gauge("paywatch_evm_head_lag_blocks",
                     "Blocks between the node's head and the last block processed", ["chain"])
EVM_TRACING = Gauge("paywatch_evm_tracing",
                    "1 while a chain with trace_internal traces its blocks; 0 once its node "
                    "refused the debug method (internal transfers are then not seen)", ["chain"])
WEBHOOK_DELIVERIES = Counter(
    "paywatch_webhook_deliveries_total", "Webhook delivery attempts", ["outcome"]
)
# outcome: ok, error, or skipped (the previous run of the job was still going).
JOB_RUNS = Counter("paywatch_job_runs_total", "Scheduled job runs", ["job", "outcome"])
JOB_DURATION = Histogram("paywatch_job_duration_seconds", "Scheduled job duration", ["job"])
# Health gauges an operator alerts on (deploy/prometheus/alerts.yml). The database-backed ones
# are refreshed every 30 s by each process's `refresh_health_gauges` job: alert on their max.
WATCHER_LEADER = Gauge("paywatch_watcher_leader",
                       "1 while this process leads the chain's watcher, 0 while it stands by",
                       ["chain"])
WEBHOOK_BACKLOG = Gauge("paywatch_webhook_backlog",
                        "Webhook deliveries due now and not delivered (all stores)")
WEBHOOK_FAILING_ENDPOINTS = Gauge(
    "paywatch_webhook_failing_endpoints",
    "Webhook endpoints with a delivery still retrying after 3 or more failed attempts")
PAYMENTS_DETECTED_OLDEST = Gauge(
    "paywatch_payments_detected_oldest_seconds",
    "Age of the oldest payment waiting in `detected` for its confirmations (0: none)")
PRICE_UPDATED = Gauge("paywatch_price_updated_timestamp_seconds",
                      "When a price source last answered for the pair (Unix time)",
                      ["asset", "currency"])
