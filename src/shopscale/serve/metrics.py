"""Prometheus metrics of one server (its own registry, so two servers in a process do not
share counters)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """Request counts and latencies, events accepted/rejected/folded, folds, model age."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "shopscale_requests_total", "HTTP requests", ["route", "status"], registry=r
        )
        self.latency = Histogram(
            "shopscale_request_seconds",
            "Time to answer a request",
            ["route"],
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
            registry=r,
        )
        self.accepted = Counter(
            "shopscale_events_accepted_total", "Posted events acknowledged", registry=r
        )
        self.rejected = Counter(
            "shopscale_events_rejected_total", "Posted events rejected", registry=r
        )
        self.folded = Counter(
            "shopscale_events_folded_total", "Logged events folded into the model", registry=r
        )
        self.folds = Counter("shopscale_folds_total", "Folds published", registry=r)
        self.fold_failures = Counter("shopscale_fold_failures_total", "Folds failed", registry=r)
        self.fold_seconds = Histogram(
            "shopscale_fold_seconds",
            "Duration of a fold (fold, publish, load)",
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600),
            registry=r,
        )
        self.model_age = Gauge(
            "shopscale_model_age_seconds", "Seconds since the served model was loaded", registry=r
        )
        self.unfolded = Gauge(
            "shopscale_events_unfolded", "Acknowledged events not folded yet", registry=r
        )
