"""The `pace` command: the local stack and generated files.

pace local up [--node]|env|status|down
                                  run the local stack in the background (--node: a real node)
pace crds [--out DIR] [--check]   write (or check) the CRDs generated from the models
pace alerts [--out DIR] [--check] write (or check) the Prometheus alerting rules
pace promote|rollback MODEL       manual rollout actions
pace retrain MODEL [--hold]       ask for a new training run now
pace get MODEL [--watch]          the model at a glance (versions, canary, training, drift)
pace history MODEL [--json]       the audit trail: versions, triggers, gates, canary, promotions
pace versions MODEL [--json]      every registered version, from the registry
pace version
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pace import __version__
from pace.api.constants import GROUP

if TYPE_CHECKING:
    from pace.adapters import object_store


def _generated(kind: str, files: dict[str, str], out: Path, *, check: bool) -> int:
    """Write generated files to ``out``, or (``check``) fail naming those that differ."""
    stale = []
    for name, text in files.items():
        path = out / name
        if check:
            if not path.is_file() or path.read_text() != text:
                stale.append(str(path))
        else:
            out.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        print(f"stale {kind} (run `make {kind.lower()}`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


def _crds(out: Path, *, check: bool) -> int:
    from pace.api import crd_schema

    return _generated("CRDs", crd_schema.render_all(), out, check=check)


def _alerts(out: Path, *, check: bool) -> int:
    from pace.core import alert_rules

    files = {alert_rules.FILE_NAME: alert_rules.rules_text()}
    return _generated("alerts", files, out, check=check)


def _local(action: str, *, with_node: bool) -> int:
    from pace.localstack import binaries, node, processes, stack

    if with_node and action != "up":
        print(f"pace local {action}: --node goes with `up` only", file=sys.stderr)
        return 2
    try:
        if action == "up":
            stack.up(with_node=with_node)
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
    except (
        binaries.BinaryMissingError,
        processes.ServerStartError,
        node.NodeError,
        stack.LeftBehindError,
    ) as exc:
        print(f"pace local {action}: {exc}", file=sys.stderr)
        return 1
    return 0


def _rollback_problem(namespace: str, model: str, target: str) -> str | None:
    """Why ``target`` cannot be rolled back to, read from the model's status (the operator
    checks again when it acts)."""
    from pace.adapters import kube_api
    from pace.api import constants
    from pace.api.mlmodel import MLModelStatus
    from pace.core import rollout

    obj = kube_api.KubeApi(kube_api.load_client()).get_object(
        constants.MLMODEL_PLURAL, namespace, model
    )
    if obj is None:
        return f"MLModel {namespace}/{model} not found"
    current = MLModelStatus.model_validate(obj.get("status") or {})
    problem = rollout.rollback_target_problem(current, target)
    return f"{namespace}/{model}: {problem}" if problem else None


def _request(namespace: str, model: str, annotation: str, value: str, what: str) -> int:
    """Ask the operator for a manual action (an annotation it acts on once)."""
    from kubernetes.client.exceptions import ApiException

    from pace.adapters import kube_api
    from pace.api import constants

    kube = kube_api.KubeApi(kube_api.load_client())
    try:
        kube.annotate(constants.MLMODEL_PLURAL, namespace, model, {annotation: value})
    except ApiException as exc:
        print(f"pace: MLModel {namespace}/{model}: {exc.reason}", file=sys.stderr)
        return 1
    print(
        f"requested {what} of {namespace}/{model}; follow it with "
        f"`kubectl describe mlmodel {model} -n {namespace}`"
    )
    return 0


def _retrain(namespace: str, model: str, reason: str, *, auto_promote: bool) -> int:
    import uuid

    from pace.core import retrain_requests

    request = retrain_requests.RetrainRequest(
        id=f"manual:{uuid.uuid4().hex[:12]}", reason=f"manual: {reason}", auto_promote=auto_promote
    )
    return _request(namespace, model, retrain_requests.ANNOTATION, request.encode(), "a retrain")


def _print_records(
    command: str,
    read: Callable[[object_store.ObjectStore], list[dict[str, Any]]],
    *,
    as_json: bool,
    empty: str,
    columns: Sequence[str],
    rows: Callable[[list[dict[str, Any]]], list[list[str]]],
) -> int:
    """Read records from the object store (credentials from the stack's Secret) and print
    them as JSON or as a table; one readable line when the store cannot be read."""
    import json

    from pace.adapters import object_store
    from pace.core import tables

    try:
        records = read(object_store.ObjectStore(_store_settings()))
    except Exception as exc:  # unreachable store, refused keys, no Secret: one readable line
        print(f"pace {command}: {type(exc).__name__}: {exc}"[:2000], file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(records, indent=2))
        return 0
    if not records:
        print(empty, file=sys.stderr)
        return 1
    print(tables.format_table(columns, rows(records)), end="")
    return 0


def _history(namespace: str, model: str, *, as_json: bool) -> int:
    """Print the audit trail read from the object store."""
    from pace import audit_log
    from pace.core import audit

    return _print_records(
        "history",
        lambda store: audit_log.read_history(store, namespace, model),
        as_json=as_json,
        empty=f"no audit records for {namespace}/{model}",
        columns=audit.HISTORY_COLUMNS,
        rows=audit.history_rows,
    )


def _versions(namespace: str, model: str, *, as_json: bool) -> int:
    """Print every registered version from the registry (lineage records in the store)."""
    from pace import registry
    from pace.core import lineage

    return _print_records(
        "versions",
        lambda store: registry.list_versions(store, namespace, model),
        as_json=as_json,
        empty=f"no registered versions of {namespace}/{model}",
        columns=lineage.VERSION_COLUMNS,
        rows=lineage.version_rows,
    )


def _get(
    namespace: str,
    model: str,
    *,
    watch: bool,
    interval: float = 2.0,
    frames: int | None = None,
) -> int:
    """Print the model at a glance; with ``watch``, redraw it in place every ``interval``
    seconds until interrupted (``frames``: stop after that many, for tests)."""
    import time
    from datetime import UTC, datetime

    from pace.adapters import kube_api
    from pace.api import constants
    from pace.api.mlmodel import MLModel
    from pace.core import model_view

    kube = kube_api.KubeApi(kube_api.load_client())
    shown = 0
    previous = None
    try:
        while True:
            try:
                obj = kube.get_object(constants.MLMODEL_PLURAL, namespace, model)
            except Exception as exc:  # the API server away for a moment: say so, go on
                if not watch:
                    print(f"pace get: {type(exc).__name__}: {exc}"[:500], file=sys.stderr)
                    return 1
                frame = f"(API server unreachable: {type(exc).__name__}; retrying)\n"
            else:
                if obj is None:
                    print(f"pace get: MLModel {namespace}/{model} not found", file=sys.stderr)
                    return 1
                frame = model_view.render(MLModel.from_body(obj), now=datetime.now(UTC))
            if not watch:
                sys.stdout.write(frame)
                return 0
            if frame != previous:
                clear = "\x1b[H\x1b[2J" if sys.stdout.isatty() else "\n"
                sys.stdout.write(clear + frame)
                sys.stdout.flush()
                previous = frame
                shown += 1
            if frames is not None and shown >= frames:
                return 0
            time.sleep(interval)
    except KeyboardInterrupt:
        return 0


def _store_settings() -> object_store.S3Settings:
    """S3 settings from the environment; keys from PACE_S3_CREDENTIALS_SECRET when unset."""
    import os

    from pace.adapters import kube_api, object_store
    from pace.config import OperatorConfig

    settings = object_store.S3Settings.from_env()
    config = OperatorConfig.from_env()
    if settings.access_key or config.s3_credentials_secret is None:
        return settings
    namespace, name = config.s3_credentials_secret
    data = kube_api.KubeApi(kube_api.load_client()).read_secret(namespace, name)
    return object_store.S3Settings(
        endpoint=settings.endpoint,
        bucket=settings.bucket,
        access_key=data.get("accessKey", os.environ.get(settings.ENV_ACCESS, "")),
        secret_key=data.get("secretKey", ""),
        secure=settings.secure,
    )


EXAMPLES: dict[str, tuple[str, ...]] = {
    "local": ("pace local up", 'eval "$(pace local env)"', "sudo pace local up --node"),
    "crds": ("pace crds --out crds/", "pace crds --check"),
    "alerts": (
        "pace alerts --out manifests/alerts/",
        "pace alerts --out charts/pace/files --check",
    ),
    "promote": ("pace promote wine -n team-a",),
    "rollback": ("pace rollback wine", "pace rollback wine --to v3"),
    "retrain": ('pace retrain wine --reason "new labels"', "pace retrain wine --hold"),
    "get": ("pace get wine -n team-a", "pace get wine --watch", "kubectl pace get wine -w"),
    "history": ("pace history wine", "pace history wine --json | jq '.[].type'"),
    "versions": ("pace versions wine", "pace versions wine --json | jq '.[].data'"),
    "version": ("pace version",),
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `pace` console script."""
    parser = argparse.ArgumentParser(
        prog="pace",
        description="PACE MLOps operator tools (also `kubectl pace ...` as a kubectl plugin).",
        epilog="examples:\n" + "\n".join(f"  {e[0]}" for e in EXAMPLES.values()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, text: str) -> argparse.ArgumentParser:
        lines = EXAMPLES.get(name, ())
        return sub.add_parser(
            name,
            help=text,
            description=text,
            epilog=("examples:\n" + "\n".join(f"  {e}" for e in lines)) if lines else None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    def namespaced(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument("model", help="the MLModel's name")
        cmd.add_argument(
            "-n", "--namespace", default="default", help="its namespace (default: default)"
        )

    local = command("local", "run the local stack (control plane, MinIO, Prometheus, operator)")
    local.add_argument("action", choices=["up", "env", "status", "down"], help="what to do")
    local.add_argument(
        "--node",
        action="store_true",
        help="up: also a real node (containerd, kubelet, kube-proxy; root) running Pods "
        "from the images of `make images`",
    )
    crds = command("crds", "write the CRDs generated from the models")
    crds.add_argument("--out", type=Path, default=Path("crds"), help="directory (default crds/)")
    crds.add_argument("--check", action="store_true", help="fail if the files are stale")
    alerts = command("alerts", "write (or check) the Prometheus alerting rules file")
    alerts.add_argument(
        "--out",
        type=Path,
        default=Path("manifests/alerts"),
        help="directory (default manifests/alerts/)",
    )
    alerts.add_argument("--check", action="store_true", help="fail if the file is stale")
    namespaced(command("promote", "promote the model's candidate to 100 %% now"))
    rollback = command("rollback", "remove the canary, or serve an older version again")
    namespaced(rollback)
    rollback.add_argument("--to", metavar="VERSION", help="archived version to serve again")
    retrain = command("retrain", "ask for a new training run of the model now")
    namespaced(retrain)
    retrain.add_argument("--reason", default="requested with pace retrain", help="recorded why")
    retrain.add_argument(
        "--hold", action="store_true", help="stop at the validated candidate (no rollout)"
    )
    get = command("get", "the model at a glance: versions, canary, training, live quality, drift")
    namespaced(get)
    get.add_argument(
        "-w", "--watch", action="store_true", help="redraw in place as it changes (Ctrl-C ends)"
    )
    get.add_argument(
        "--interval", type=float, default=2.0, metavar="SECONDS", help="watch: refresh period"
    )
    history = command("history", "the model's audit trail: what served when, and why")
    namespaced(history)
    history.add_argument("--json", action="store_true", help="one JSON array of the records")
    versions = command("versions", "every registered version of the model, from the registry")
    namespaced(versions)
    versions.add_argument("--json", action="store_true", help="the lineage records as JSON")
    command("version", "print the version")
    args = parser.parse_args(argv)
    if args.command == "local":
        return _local(args.action, with_node=args.node)
    if args.command == "crds":
        return _crds(args.out, check=args.check)
    if args.command == "alerts":
        return _alerts(args.out, check=args.check)
    if args.command in ("promote", "rollback"):
        target = getattr(args, "to", None)
        if target and (problem := _rollback_problem(args.namespace, args.model, target)):
            print(f"pace rollback: {problem}", file=sys.stderr)
            return 2
        action = args.command if not target else f"rollback:{target}"
        return _request(args.namespace, args.model, f"{GROUP}/action", action, action)
    if args.command == "retrain":
        return _retrain(args.namespace, args.model, args.reason, auto_promote=not args.hold)
    if args.command == "get":
        return _get(args.namespace, args.model, watch=args.watch, interval=args.interval)
    if args.command == "history":
        return _history(args.namespace, args.model, as_json=args.json)
    if args.command == "versions":
        return _versions(args.namespace, args.model, as_json=args.json)
    print(__version__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
