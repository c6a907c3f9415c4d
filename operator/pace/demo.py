"""`make demo`: bring up the local stack, apply the samples, and show what the operator does.

Prints each stage as it happens and tears the stack down at the end or on Ctrl-C, leaving no
process behind. (The closed loop — training, canary, drift, retrain — joins this demo as
those capabilities land; see the README's status table.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from pace.localstack import stack

SAMPLES = Path(__file__).resolve().parents[2] / "manifests" / "samples"


def _kubectl(state: stack.StackState, *args: str) -> str:
    env = {**os.environ, "KUBECONFIG": state.kubeconfig}
    result = subprocess.run(
        [state.kubectl, *args], env=env, capture_output=True, text=True, check=True
    )
    return result.stdout


def _stage(text: str, started: float) -> None:
    print(f"\n[{time.monotonic() - started:6.1f}s] {text}", flush=True)


def main() -> int:
    started = time.monotonic()
    _stage("starting the local stack (control plane, CRDs, operator)", started)
    state = stack.up()
    try:
        _stage(f"applying {SAMPLES.relative_to(SAMPLES.parents[1])}/", started)
        print(_kubectl(state, "apply", "-f", str(SAMPLES)), end="")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            out = _kubectl(
                state,
                "get",
                "dm,rtp",
                "-o",
                "jsonpath={range .items[*]}{.status.conditions[?(@.type=='Ready')]"
                ".status}{'\\n'}{end}",
            )
            if out.split() == ["True", "True"]:
                break
            time.sleep(1)
        _stage("what kubectl shows", started)
        print(_kubectl(state, "get", "pace"), end="")
        _stage("kubectl describe mlmodel wine (conditions and events)", started)
        print(_kubectl(state, "describe", "mlmodel", "wine"), end="")
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
    finally:
        _stage("stopping the local stack", started)
        stack.down()
    print(f"\ndemo finished in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
