"""`python -m pace`: run the operator (kopf with pace.handlers) using OperatorConfig."""

from __future__ import annotations

import sys

from pace.config import OperatorConfig


def kopf_args(config: OperatorConfig, extra: list[str]) -> list[str]:
    """The `kopf run` arguments for this configuration."""
    args = [
        "run",
        "-m",
        "pace.handlers",
        "--standalone",
        f"--liveness=http://{config.bind_address}:{config.probe_port}/healthz",
    ]
    if config.watch_namespaces:
        for namespace in config.watch_namespaces:
            args += ["--namespace", namespace]
    else:
        args.append("--all-namespaces")
    return args + extra


def main(argv: list[str] | None = None) -> None:
    """Parse the environment, then hand over to kopf's CLI."""
    import kopf.cli

    from pace.adapters import heap

    heap.limit_arenas()  # before kopf starts its threads
    heap.fewer_full_collections()
    import pace.handlers  # noqa: F401  (kopf imports it too; loaded here to be frozen)

    heap.freeze_startup()
    config = OperatorConfig.from_env()
    kopf.cli.main(
        args=kopf_args(config, sys.argv[1:] if argv is None else argv), prog_name="pace-operator"
    )


if __name__ == "__main__":
    main()
