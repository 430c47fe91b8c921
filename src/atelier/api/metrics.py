"""Prometheus metrics of one app: requests by route and status, their latency, and where picks come from.

Each app has its own registry, so two apps in one process (tests, a reload) never mix their counts.
"""

from __future__ import annotations

import time

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest


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
        """Time every request (labelled by its route template, so ids do not explode the label set)."""

        @app.middleware("http")
        async def measure(request: Request, call_next):
            started = time.perf_counter()
            response = await call_next(request)
            route = request.scope.get("route")
            template = getattr(route, "path", "unmatched")
            self.latency.labels(template).observe(time.perf_counter() - started)
            self.requests.labels(template, request.method, str(response.status_code)).inc()
            return response

    def count_sources(self, widget: str, picks) -> None:
        for pick in picks:
            self.sources.labels(widget, pick.source).inc()

    def exposition(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)
