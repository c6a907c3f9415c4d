"""An HTTP server that takes POSTs (Alertmanager's and PACE's webhooks) and keeps them."""

from __future__ import annotations

import http.server
import json
import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """POSTs to any path are kept in arrival order; ``fail`` answers 503 while set."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.fail = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if receiver.fail.is_set():
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.received.append(Received(self.path, dict(self.headers.items()), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str = "/") -> str:
        return self.base + path

    def at(self, path: str) -> list[Received]:
        return [r for r in list(self.received) if r.path == path]

    def close(self) -> None:
        self.server.shutdown()
