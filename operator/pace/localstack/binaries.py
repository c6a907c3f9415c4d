"""Build and locate the server binaries of the local stack (etcd, kube-apiserver, MinIO...).

Called by `make controlplane` (``python -m pace.localstack.binaries build``), by the pytest
fixtures in ``tests/servers`` and by ``pace local up``. Everything is built from the Go module
proxy at the pinned versions below into a cache outside the repository
(``$PACE_CACHE_DIR``, default ``~/.cache/pace``). A build is skipped when the cached
binaries carry a stamp that matches the pins.

k8s.io/kubernetes and etcd's server module cannot be ``go install``-ed: their go.mod files
replace their sibling modules with relative paths. The fix, for both, is a small wrapper
module that requires the main module and replaces every such sibling with the released
version of the same tag. The list of siblings is read from the main module's own go.mod,
fetched with ``go mod download -json``, so nothing is hard-coded that could drift.

This module uses the standard library only, so it can run before the virtualenv exists.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

KUBERNETES_VERSION = "v1.35.4"
ETCD_VERSION = "v3.6.16"
MINIO_VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c"  # github.com/minio/minio, newest on the proxy
HELM_VERSION = "v3.22.0"  # renders and lints charts/pace in the tests

_STAGING_RE = re.compile(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/")
_ETCD_SIBLING_RE = re.compile(r"^\s*(go\.etcd\.io/etcd/[\w./-]+)\s+=>\s+\.\./")


class BinaryMissingError(RuntimeError):
    """A server binary is not where the stack expects it; the message names it."""


@dataclass(frozen=True)
class Toolset:
    """Pinned group of binaries built together from one Go wrapper module."""

    name: str
    version: str
    binaries: tuple[str, ...]

    def directory(self, cache: Path) -> Path:
        return cache / "bin" / f"{self.name}-{self.version}"

    def stamp(self) -> str:
        return json.dumps({"name": self.name, "version": self.version, "go": _go_version()})


KUBERNETES = Toolset(
    "kubernetes",
    KUBERNETES_VERSION,
    (
        "kube-apiserver",
        "kube-controller-manager",
        "kubectl",
        # A real node (issue 11): the kubelet, kube-proxy for Services, a scheduler for Pods.
        "kubelet",
        "kube-proxy",
        "kube-scheduler",
    ),
)
ETCD = Toolset("etcd", ETCD_VERSION, ("etcd",))
MINIO = Toolset("minio", MINIO_VERSION, ("minio",))
HELM = Toolset("helm", HELM_VERSION, ("helm",))
ALL = (ETCD, KUBERNETES, MINIO, HELM)


def cache_dir() -> Path:
    """Where binaries and build state are cached (outside the repository)."""
    return Path(os.environ.get("PACE_CACHE_DIR", Path.home() / ".cache" / "pace"))


def _go_version() -> str:
    out = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or "unknown"


def locate(binary: str) -> Path:
    """Path of one server binary, honouring ``KUBEBUILDER_ASSETS`` for the control plane.

    Raises:
        BinaryMissingError: naming the binary and the command that builds it.
    """
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets and (Path(assets) / binary).is_file():
        return Path(assets) / binary
    for toolset in ALL:
        if binary in toolset.binaries:
            path = toolset.directory(cache_dir()) / binary
            if path.is_file():
                return path
            raise BinaryMissingError(
                f"{binary} not found at {path} (nor in KUBEBUILDER_ASSETS); "
                "build it with `make controlplane`"
            )
    found = shutil.which(binary)
    if found:
        return Path(found)
    raise BinaryMissingError(f"{binary} not found on PATH")


def is_current(toolset: Toolset, cache: Path) -> bool:
    """True when every binary of the toolset is cached and its stamp matches the pins."""
    directory = toolset.directory(cache)
    stamp = directory / ".stamp"
    if not stamp.is_file() or stamp.read_text() != toolset.stamp():
        return False
    return all((directory / b).is_file() for b in toolset.binaries)


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str]) -> None:
    print(f"+ {' '.join(cmd)}", flush=True)
    subprocess.run(cmd, cwd=cwd, env=env, check=True)


def _download_gomod(module: str, version: str, env: dict[str, str], cwd: Path) -> str:
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(json.loads(out.stdout)["GoMod"]).read_text()


def wrapper_gomod(*, main_module: str, version: str, sibling_versions: dict[str, str]) -> str:
    """The go.mod of a wrapper module that pins ``main_module`` and its replaced siblings."""
    lines = [
        f"module pace.dev/build/{main_module.replace('/', '-')}",
        "",
        "go 1.25.0",
        "",
        f"require {main_module} {version}",
        "",
        "replace (",
    ]
    lines += [f"\t{mod} => {mod} {ver}" for mod, ver in sorted(sibling_versions.items())]
    lines += [")", ""]
    return "\n".join(lines)


def kubernetes_siblings(gomod: str, version: str) -> dict[str, str]:
    """Staging modules replaced by ./staging in k8s.io/kubernetes → their v0.X.Y release."""
    staging_version = "v0" + version[2:]  # v1.35.4 -> v0.35.4
    return {
        m.group(1): staging_version for line in gomod.splitlines() if (m := _STAGING_RE.match(line))
    }


def etcd_siblings(gomod: str, version: str) -> dict[str, str]:
    """Modules replaced by ../ paths in etcd's server/v3 go.mod → the same release tag."""
    return {
        m.group(1): version for line in gomod.splitlines() if (m := _ETCD_SIBLING_RE.match(line))
    }


def _ldflags_kubernetes(version: str) -> str:
    pkg = "k8s.io/component-base/version"
    parts = version.lstrip("v").split(".")
    values = {
        "gitVersion": version,
        "gitMajor": parts[0],
        "gitMinor": parts[1],
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
    }
    flags = [f"-X {pkg}.{k}={v}" for k, v in values.items()]
    return "-s -w " + " ".join(flags)


def build(toolset: Toolset, cache: Path, *, force: bool = False) -> Path:
    """Build one toolset into the cache unless it is already current; return its directory."""
    directory = toolset.directory(cache)
    if not force and is_current(toolset, cache):
        print(f"{toolset.name} {toolset.version}: cached at {directory}", flush=True)
        return directory
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod -buildvcs=false"}
    work = cache / "build" / f"{toolset.name}-{toolset.version}"
    work.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{toolset.name}-", dir=cache / "build"))
    ldflags = "-s -w"
    if toolset is KUBERNETES:
        main = "k8s.io/kubernetes"
        siblings = kubernetes_siblings(
            _download_gomod(main, toolset.version, env, work), toolset.version
        )
        packages = [f"{main}/cmd/{b}" for b in toolset.binaries]
        ldflags = _ldflags_kubernetes(toolset.version)
    elif toolset is ETCD:
        main = "go.etcd.io/etcd/server/v3"
        siblings = etcd_siblings(_download_gomod(main, toolset.version, env, work), toolset.version)
        packages = [main]
    elif toolset is HELM:
        main = "helm.sh/helm/v3"
        siblings = {}
        packages = [f"{main}/cmd/helm"]
    else:
        main = "github.com/minio/minio"
        siblings = {}
        packages = [main]
    (work / "go.mod").write_text(
        wrapper_gomod(main_module=main, version=toolset.version, sibling_versions=siblings)
    )
    (work / "go.sum").touch()
    _run(["go", "mod", "download", main], cwd=work, env=env)
    if len(packages) == 1:
        out = staging / toolset.binaries[0]
        _run(
            ["go", "build", "-trimpath", f"-ldflags={ldflags}", "-o", str(out), packages[0]],
            cwd=work,
            env=env,
        )
    else:
        _run(
            ["go", "build", "-trimpath", f"-ldflags={ldflags}", "-o", f"{staging}/", *packages],
            cwd=work,
            env=env,
        )
    (staging / ".stamp").write_text(toolset.stamp())
    if directory.exists():
        shutil.rmtree(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging.rename(directory)
    print(f"{toolset.name} {toolset.version}: built into {directory}", flush=True)
    return directory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pace.localstack.binaries", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build the pinned binaries into the cache")
    b.add_argument(
        "names", nargs="*", help="toolsets to build: etcd, kubernetes, minio, helm (default: all)"
    )
    b.add_argument("--force", action="store_true", help="rebuild even when cached")
    sub.add_parser("where", help="print where each binary is")
    args = parser.parse_args(argv)
    cache = cache_dir()
    if args.command == "build":
        wanted = [t for t in ALL if not args.names or t.name in args.names]
        unknown = set(args.names) - {t.name for t in ALL}
        if unknown:
            parser.error(
                f"unknown toolset(s) {sorted(unknown)}; choose from {[t.name for t in ALL]}"
            )
        for toolset in wanted:
            build(toolset, cache, force=args.force)
        return 0
    for toolset in ALL:
        for binary in toolset.binaries:
            try:
                print(f"{binary}\t{locate(binary)}")
            except BinaryMissingError as exc:
                print(f"{binary}\tMISSING: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
