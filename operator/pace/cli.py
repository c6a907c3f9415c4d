"""The `pace` command: the local stack and generated files.

pace local up|env|status|down     run the local stack in the background
pace crds [--out DIR] [--check]   write (or check) the CRDs generated from the models
pace version
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pace import __version__


def _crds(out: Path, *, check: bool) -> int:
    from pace.api import crd_schema

    stale = []
    for name, text in crd_schema.render_all().items():
        path = out / name
        if check:
            if not path.is_file() or path.read_text() != text:
                stale.append(str(path))
        else:
            out.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        print("stale CRDs (run `make crds`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


def _local(action: str) -> int:
    from pace.localstack import binaries, processes, stack

    try:
        if action == "up":
            stack.up()
        elif action == "down":
            stack.down()
        elif action == "env":
            state = stack.StackState.load(stack.state_dir())
            if state is None:
                print("local stack is not running; start it with `pace local up`", file=sys.stderr)
                return 1
            sys.stdout.write(stack.env_exports(state))
        else:
            print("\n".join(stack.status_lines(stack.StackState.load(stack.state_dir()))))
    except (binaries.BinaryMissingError, processes.ServerStartError) as exc:
        print(f"pace local {action}: {exc}", file=sys.stderr)
        return 1
    return 0


def _request(namespace: str, model: str, action: str) -> int:
    """Ask the operator for a manual rollout action (an annotation it acts on once)."""
    from kubernetes.client.exceptions import ApiException

    from pace.adapters import kube_api
    from pace.api import constants

    kube = kube_api.KubeApi(kube_api.load_client())
    try:
        kube.custom.patch_namespaced_custom_object(
            constants.GROUP,
            constants.VERSION,
            namespace,
            constants.MLMODEL_PLURAL,
            model,
            {"metadata": {"annotations": {f"{constants.GROUP}/action": action}}},
        )
    except ApiException as exc:
        print(f"pace: MLModel {namespace}/{model}: {exc.reason}", file=sys.stderr)
        return 1
    print(
        f"requested {action} of {namespace}/{model}; follow it with "
        f"`kubectl describe mlmodel {model} -n {namespace}`"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `pace` console script."""
    parser = argparse.ArgumentParser(prog="pace", description="PACE MLOps operator tools")
    sub = parser.add_subparsers(dest="command", required=True)
    local = sub.add_parser("local", help="run the local stack (control plane + operator)")
    local.add_argument("action", choices=["up", "env", "status", "down"])
    crds = sub.add_parser("crds", help="write the CRDs generated from the models")
    crds.add_argument("--out", type=Path, default=Path("crds"), help="directory (default crds/)")
    crds.add_argument("--check", action="store_true", help="fail if the files are stale")
    promote = sub.add_parser("promote", help="promote the model's candidate to 100 % now")
    promote.add_argument("model")
    promote.add_argument("-n", "--namespace", default="default")
    rollback = sub.add_parser("rollback", help="remove the canary, or serve an older version")
    rollback.add_argument("model")
    rollback.add_argument("-n", "--namespace", default="default")
    rollback.add_argument("--to", metavar="VERSION", help="archived version to serve again")
    sub.add_parser("version", help="print the version")
    args = parser.parse_args(argv)
    if args.command == "local":
        return _local(args.action)
    if args.command == "crds":
        return _crds(args.out, check=args.check)
    if args.command in ("promote", "rollback"):
        action = args.command if not getattr(args, "to", None) else f"rollback:{args.to}"
        return _request(args.namespace, args.model, action)
    print(__version__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
