"""A small HTTP server speaking the Kubeflow Pipelines v2beta1 calls PACE's kfp backend
makes (no KFP can run here: it needs a cluster with Argo). It records what it receives, so
tests assert on the exact requests: experiments, runs with an inline pipeline spec, filtered
listing, and run details with task states set by the test."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest


class KfpApi:
    """In-memory state of the fake API."""

    def __init__(self) -> None:
        self.experiments: dict[str, dict[str, Any]] = {}
        self.runs: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def set_run(
        self,
        display_name: str,
        *,
        state: str,
        tasks: list[dict[str, Any]] | None = None,
        error: str | None = None,
    ) -> None:
        with self.lock:
            run = next(r for r in self.runs.values() if r["display_name"] == display_name)
            run["state"] = state
            run["run_details"] = {"task_details": tasks or []}
            if error:
                run["error"] = {"code": 2, "message": error}


def _matches(run: dict[str, Any], flt: str | None) -> bool:
    if not flt:
        return True
    for pred in json.loads(flt).get("predicates", []):
        wanted = pred.get("string_value", pred.get("stringValue"))
        if (pred.get("key"), pred.get("operation")) == ("display_name", "EQUALS") and (
            run["display_name"] != wanted
        ):
            return False
    return True


def _handler(api: KfpApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length", 0))
            return dict(json.loads(self.rfile.read(length) or b"{}"))

        def do_GET(self) -> None:
            url = urlparse(self.path)
            query = parse_qs(url.query)
            api.requests.append(("GET", url.path))
            with api.lock:
                if url.path == "/apis/v2beta1/healthz":
                    self._send(200, {"multi_user": False})
                elif url.path == "/apis/v2beta1/experiments":
                    flt = query.get("filter", [None])[0]
                    items = [
                        e for e in api.experiments.values() if not flt or e["display_name"] in flt
                    ]
                    self._send(200, {"experiments": items, "total_size": len(items)})
                elif url.path == "/apis/v2beta1/runs":
                    flt = query.get("filter", [None])[0]
                    items = [r for r in api.runs.values() if _matches(r, flt)]
                    self._send(200, {"runs": items, "total_size": len(items)})
                elif url.path.startswith("/apis/v2beta1/runs/"):
                    run = api.runs.get(url.path.rsplit("/", 1)[-1])
                    self._send(200 if run else 404, run or {"error": "not found"})
                else:
                    self._send(404, {"error": url.path})

        def do_POST(self) -> None:
            url = urlparse(self.path)
            api.requests.append(("POST", url.path))
            body = self._body()
            with api.lock:
                if url.path == "/apis/v2beta1/experiments":
                    exp = {**body, "experiment_id": str(uuid.uuid4())}
                    api.experiments[exp["experiment_id"]] = exp
                    self._send(200, exp)
                elif url.path == "/apis/v2beta1/runs":
                    run = {**body, "run_id": str(uuid.uuid4()), "state": "PENDING"}
                    api.runs[run["run_id"]] = run
                    self._send(200, run)
                else:
                    self._send(404, {"error": url.path})

    return Handler


@pytest.fixture
def kfp_api() -> Iterator[tuple[KfpApi, str]]:
    api = KfpApi()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield api, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
