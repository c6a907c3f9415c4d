"""Prometheus HTTP API: instant queries to typed values. No PromQL is built here."""

from __future__ import annotations

import asyncio
import json
import math
import urllib.error
import urllib.parse
import urllib.request


class PrometheusUnavailable(RuntimeError):
    """Prometheus could not be reached or refused the query; the message says which."""


class PrometheusApi:
    """Instant queries against one Prometheus."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def query(self, promql: str) -> float | None:
        """The single value of an instant query; None when it returns no sample."""
        params = urllib.parse.urlencode({"query": promql})
        try:
            with urllib.request.urlopen(
                f"{self.url}/api/v1/query?{params}",
                timeout=self.timeout,
            ) as resp:
                body = json.loads(resp.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise PrometheusUnavailable(f"{self.url}: {exc}") from None
        if body.get("status") != "success":
            raise PrometheusUnavailable(f"query refused: {body.get('error', body)}")
        result = body["data"]["result"]
        if not result:
            return None
        value = float(result[0]["value"][1])
        return None if math.isnan(value) else value

    async def aquery(self, promql: str) -> float | None:
        return await asyncio.to_thread(self.query, promql)
