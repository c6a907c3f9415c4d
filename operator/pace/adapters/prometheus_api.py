"""Prometheus HTTP API: instant and range queries to typed values. No PromQL is built here."""

from __future__ import annotations

import asyncio
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any


class PrometheusUnavailable(RuntimeError):
    """Prometheus could not be reached or refused the query; the message says which."""


@dataclass(frozen=True)
class Series:
    """One time series of a range query: its labels and (unix seconds, value) points, NaN
    samples dropped."""

    labels: dict[str, str]
    points: list[tuple[float, float]]


class PrometheusApi:
    """Instant and range queries against one Prometheus."""

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

    def query_range(self, promql: str, *, start: float, end: float, step: float) -> list[Series]:
        """Every series of a range query from ``start`` to ``end`` (unix seconds) every
        ``step`` seconds; an empty list when nothing matched."""
        params = urllib.parse.urlencode(
            {"query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        )
        body = self._get(f"{self.url}/api/v1/query_range?{params}")
        if body.get("status") != "success":
            raise PrometheusUnavailable(
                f"{self.url}: range query refused: {body.get('error', body)}"
            )
        return [_series(item) for item in body["data"]["result"]]

    def _get(self, url: str) -> dict[str, Any]:
        """The decoded JSON body of a GET; a 4xx/5xx body with Prometheus's error is returned
        too, so the caller can name the refusal."""
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as resp:
                return _json_object(resp.read())
        except urllib.error.HTTPError as exc:
            try:
                return _json_object(exc.read())
            except (ValueError, OSError):
                raise PrometheusUnavailable(f"{self.url}: {exc}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise PrometheusUnavailable(f"{self.url}: {exc}") from None


def _json_object(raw: bytes) -> dict[str, Any]:
    body = json.loads(raw)
    if not isinstance(body, dict):
        raise ValueError(f"expected a JSON object, got {type(body).__name__}")
    return body


def _series(item: dict[str, Any]) -> Series:
    points = [(float(ts), float(value)) for ts, value in item.get("values", [])]
    return Series(
        labels=dict(item.get("metric", {})),
        points=[(ts, value) for ts, value in points if not math.isnan(value)],
    )
