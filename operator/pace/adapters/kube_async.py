"""The reconcilers' own reads and writes of PACE objects, on aiohttp in kopf's event loop.

Every look that moves writes its status through here, so at a thousand objects this is the
operator's busiest path. The official client blocks; run in worker threads it cost a thread
hop, urllib3 and the client's own (de)serialisation per call: about a quarter of the
operator's CPU when a thousand objects appeared at once (py-spy, tests/bench/test_scale.py).
This client sends the same requests (JSON merge patches, the status subresource, the
resourceVersion precondition) with the credentials of the official client's configuration,
read at each request, so a rotated service-account token is picked up as before.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any
from urllib.parse import quote

import aiohttp
import kubernetes
from kubernetes.client.exceptions import ApiException

from pace.api import constants

TIMEOUT = aiohttp.ClientTimeout(total=60, connect=10)
MERGE_PATCH = "application/merge-patch+json"


class Conflict(Exception):
    """The object changed since it was read (HTTP 409): read it again and decide again."""


class Gone(Exception):
    """The object no longer exists (HTTP 404)."""


def ssl_context(config: kubernetes.client.Configuration) -> ssl.SSLContext | bool:
    """The TLS settings of the official client's configuration, for aiohttp."""
    if not config.host.startswith("https"):
        return False
    context = ssl.create_default_context(cafile=config.ssl_ca_cert)
    if config.cert_file:
        context.load_cert_chain(config.cert_file, config.key_file)
    if not config.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def object_path(plural: str, namespace: str, name: str, *, status: bool = False) -> str:
    path = (
        f"/apis/{constants.GROUP}/{constants.VERSION}/namespaces/{quote(namespace)}"
        f"/{plural}/{quote(name)}"
    )
    return path + "/status" if status else path


class AsyncKube:
    """GET and conditional merge-patch of PACE objects. One connection pool per event loop
    (kopf's; a test may run several loops one after another)."""

    def __init__(self, config: kubernetes.client.Configuration) -> None:
        self.config = config
        self._ssl = ssl_context(config)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": f"{constants.MANAGER_NAME}/kube"}
        # Reads the token again when the configuration has a refresh hook (in-cluster).
        token = self.config.get_api_key_with_prefix(
            "BearerToken"
        ) or self.config.get_api_key_with_prefix("authorization")
        if token:
            headers["Authorization"] = token
        return headers

    def _open(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session = aiohttp.ClientSession(
                base_url=self.config.host.rstrip("/"),
                connector=aiohttp.TCPConnector(ssl=self._ssl, limit=32),
                timeout=TIMEOUT,
                json_serialize=json.dumps,
            )
            self._loop = loop
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def request(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The decoded response; 409 raises Conflict, 404 Gone, anything else not 2xx the
        official client's ApiException (status, reason and body as it would carry them)."""
        headers = self._headers()
        data = None
        if body is not None:
            headers["Content-Type"] = MERGE_PATCH
            data = json.dumps(body)
        async with self._open().request(method, path, data=data, headers=headers) as response:
            text = await response.text()
            if response.status == 409:
                raise Conflict(f"{method} {path}: {response.reason}")
            if response.status == 404:
                raise Gone(f"{method} {path}: not found")
            if response.status >= 300:
                error = ApiException(status=response.status, reason=response.reason)
                error.body = text
                raise error
            found: dict[str, Any] = json.loads(text)
            return found

    async def get_object(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return await self.request("GET", object_path(plural, namespace, name))
        except Gone:
            return None

    async def patch(
        self, plural: str, namespace: str, name: str, patch: dict[str, Any], *, status: bool
    ) -> dict[str, Any]:
        return await self.request(
            "PATCH", object_path(plural, namespace, name, status=status), patch
        )
