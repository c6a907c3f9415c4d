"""POSTing notifications to webhooks (the only outbound-HTTP code besides Prometheus queries).

A delivery succeeds on any 2xx answer; anything else (a 4xx/5xx, a refused connection, a
timeout) raises `DeliveryError` naming the URL's host and what happened, never the body or
the signing key.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import aiohttp

TIMEOUT_SECONDS = 10.0


class DeliveryError(RuntimeError):
    """A webhook did not take a notification; the message says which and why."""


def where(url: str) -> str:
    """The URL without its path and query (Slack-style URLs carry their token in the path)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def post(url: str, payload: bytes, headers: dict[str, str]) -> None:
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(url, data=payload, headers=headers) as response,
        ):
            if response.status // 100 != 2:
                raise DeliveryError(f"{where(url)} answered HTTP {response.status}")
    except aiohttp.ClientError as exc:
        raise DeliveryError(f"{where(url)}: {type(exc).__name__}: {exc}"[:300]) from None
    except TimeoutError:
        raise DeliveryError(f"{where(url)}: no answer in {TIMEOUT_SECONDS:.0f}s") from None
