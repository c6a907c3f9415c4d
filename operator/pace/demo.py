"""`make demo`: bring up the local stack, apply the samples, and show the loop as it happens.

Today the loop covers: the wine MLModel is compiled to a KFP pipeline, trained by the local
backend step by step, registered with its lineage in MinIO, and gated; the DriftMonitor and
RetrainPolicy find their model. Serving, drift and retraining join as those capabilities land
(see the README's status table). The stack is torn down at the end or on Ctrl-C, leaving no
process behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pace.localstack import stack

SAMPLES = Path(__file__).resolve().parents[2] / "manifests" / "samples"
TRAIN_TIMEOUT = 600.0


class Demo:
    """Prints timestamped stages against one running stack."""

    def __init__(self, state: stack.StackState, started: float) -> None:
        self.state, self.started = state, started

    def kubectl(self, *args: str) -> str:
        env = {**os.environ, "KUBECONFIG": self.state.kubeconfig}
        result = subprocess.run(
            [self.state.kubectl, *args], env=env, capture_output=True, text=True, check=True
        )
        return result.stdout

    def stage(self, text: str) -> None:
        print(f"\n[{time.monotonic() - self.started:6.1f}s] {text}", flush=True)

    def model(self, name: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.kubectl("get", "mlmodel", name, "-o", "json"))
        return loaded

    def follow_training(self, name: str) -> dict[str, Any]:
        """Print each step of the model's training run until it ends."""
        seen = None
        deadline = time.monotonic() + TRAIN_TIMEOUT
        while time.monotonic() < deadline:
            status = self.model(name).get("status", {})
            training = status.get("training") or {}
            now = (training.get("state"), training.get("step"))
            if training and now != seen:
                seen = now
                step = f" step {training['step']}" if training.get("step") else ""
                self.stage(f"run {training['run']}: {training['state']}{step}")
            if training.get("state") in ("Succeeded", "Failed"):
                return dict(status)
            time.sleep(1)
        raise TimeoutError(f"training of {name} did not finish in {TRAIN_TIMEOUT:.0f}s")


def main() -> int:
    started = time.monotonic()
    print("[   0.0s] starting the local stack (control plane, CRDs, MinIO, operator)", flush=True)
    state = stack.up()
    demo = Demo(state, started)
    try:
        demo.stage(f"applying {SAMPLES.relative_to(SAMPLES.parents[1])}/")
        print(demo.kubectl("apply", "-f", str(SAMPLES)), end="")
        demo.stage("training wine: the operator compiled a KFP pipeline and runs it locally")
        status = demo.follow_training("wine")
        demo.stage("versions of wine (status.versions)")
        for version in status.get("versions", []):
            metrics = ", ".join(f"{k}={v:.3f}" for k, v in sorted(version["metrics"].items()))
            print(f"  {version['version']}  {version['stage']:<10} {metrics}")
            print(f"      data {version['dataHash'][:23]}...  artifact {version['artifactUri']}")
        demo.stage("what kubectl shows")
        print(demo.kubectl("get", "pace", "-o", "wide"), end="")
        demo.stage("kubectl describe mlmodel wine (conditions and events)")
        print(demo.kubectl("describe", "mlmodel", "wine"), end="")
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
    finally:
        demo.stage("stopping the local stack")
        stack.down()
    print(f"\ndemo finished in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
