"""Prometheus metrics of one app: requests by route and status, their latency, and where picks come from.

Each app has its own registry, so two apps in one process (tests) never mix their counts. Under
``atelier serve`` the workers are separate processes: each writes its counts to the folder named by
``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess mode), and a scrape sums them all.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

from fastapi import FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)


class Metrics:
    """The app's counters and histograms, and the middleware that fills them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "atelier_requests",
            "HTTP requests answered",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "atelier_request_seconds",
            "time to answer a request",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.sources = Counter(
            "atelier_recommendations",
            "picks served, by widget and source",
            ["widget", "source"],
            registry=self.registry,
        )

    def install(self, app: FastAPI) -> None:
        """Time every request (labelled by its route template, so ids do not explode the label set). A plain
        ASGI middleware: Starlette's ``BaseHTTPMiddleware`` costs more than an engine call."""
        app.add_middleware(_Measure, metrics=self)

    def count_sources(self, widget: str, counts: Iterable[tuple[str, int]]) -> None:
        """Count the picks of one answer: (source, how many picks it produced) pairs."""
        for source, count in counts:
            self.sources.labels(widget, source).inc(count)

    def exposition(self) -> Response:
        """The counts in Prometheus text: of every worker when they share a metrics folder."""
        registry = self.registry
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class _Measure:
    def __init__(self, app, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500  # unless the app answers

        async def send_and_note(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            template = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.latency.labels(template).observe(time.perf_counter() - started)
            self.metrics.requests.labels(template, scope["method"], str(status)).inc()
