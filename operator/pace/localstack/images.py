"""Build PACE's container images without a Docker daemon (`make images`).

Three images, from Containerfiles a user's CI builds unchanged with ``docker build`` /
``podman build`` / ``buildah bud`` from the repository root:

- ``pace-operator`` (operator/Containerfile, target operator): ``python -m pace``, what the
  chart runs;
- ``pace-pipeline`` (operator/Containerfile, target pipeline): every pipeline step on Kubeflow
  (`pace_components.images.BASE_IMAGE`);
- ``pace-model-server`` (operator/serving.Containerfile): the seldon-core microservice with
  ``PaceModel``.

Here they are built with Debian's tools: a Python 3.12 base made by ``mmdebstrap`` from
Debian's packages (the shared libraries the interpreter needs) plus the machine's own
CPython 3.12 (the one `make install` uses; Debian 12 ships only 3.11), passed to the
Containerfiles as ``BASE``; then ``buildah bud`` with vfs storage and chroot isolation, the
Python packages from the lock files. Each image is kept as an OCI archive in the cache
(``$PACE_CACHE_DIR/images``, outside the repository) under a key of its inputs, so an
unchanged image is not built again. Each build prints its digest, size and time, and
``images.json`` in the cache records them.

Run as ``python -m pace.localstack.images build [--only NAME]`` or ``... list``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, TextIO

from pace.localstack import binaries

ROOT = Path(__file__).resolve().parents[3]
VERSION = "0.1.0"
PYTHON = "3.12"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# The shared libraries CPython 3.12's modules link against (ssl, ctypes, sqlite3, lzma, bz2,
# readline, uuid, zlib), CA certificates for HTTPS, and libgomp for scikit-learn's OpenMP.
BASE_PACKAGES = (
    "ca-certificates",
    "libbz2-1.0",
    "libffi8",
    "libgomp1",
    "liblzma5",
    "libreadline8",
    "libsqlite3-0",
    "libssl3",
    "libuuid1",
    "tzdata",
    "zlib1g",
)
# The build stage's base adds a C/C++ toolchain: a locked package without a wheel for
# CPython 3.12 (shap 0.43) is built from its sdist there; the final stage has no compiler.
BUILD_PACKAGES = (*BASE_PACKAGES, "g++", "gcc", "libc6-dev", "make")
# What `apt`/`dpkg` leave behind that a running image never needs (no package manager in
# the final images: the base has none, so neither has anything built FROM it).
STRIP = (
    "/usr/bin/apt*",
    "/usr/bin/dpkg*",
    "/usr/lib/apt",
    "/usr/lib/dpkg",
    "/var/lib/apt",
    "/var/cache/apt",
    "/var/cache/debconf/*-old",
    "/var/log/*",
    "/usr/share/doc",
    "/usr/share/man",
    "/usr/share/info",
    "/usr/share/locale",
)
SIZE_BUDGET_MB = {"pace-operator": 1600, "pace-pipeline": 1600, "pace-model-server": 600}


@dataclass(frozen=True)
class Image:
    """One image: its Containerfile and the paths (relative to the repo) it copies in."""

    name: str
    containerfile: str
    target: str | None
    inputs: tuple[str, ...]
    smoke: tuple[str, ...]  # proves the image runs: its entrypoint with --help, if it has one


IMAGES = (
    Image(
        "pace-pipeline",
        "operator/Containerfile",
        "pipeline",
        ("pyproject.toml", "uv.lock", "README.md", "operator/pace", "components/pace_components"),
        ("python", "-m", "kfp.dsl.executor_main", "--help"),
    ),
    # Built from the pipeline image just built (PIPELINE=...): only its entrypoint is new.
    Image(
        "pace-operator",
        "operator/Containerfile",
        "operator",
        ("pyproject.toml", "uv.lock", "README.md", "operator/pace", "components/pace_components"),
        ("python", "-m", "pace", "--help"),
    ),
    Image(
        "pace-model-server",
        "operator/serving.Containerfile",
        None,
        ("operator/requirements-serving.lock", "operator/pace/localstack/seldon_model"),
        ("seldon-core-microservice", "PaceModel", "--service-type", "MODEL", "--help"),
    ),
)


class ImageBuildError(RuntimeError):
    """A tool is missing or a build failed; the message names it."""


@dataclass
class Built:
    """What `make images` reports of one image."""

    name: str
    reference: str
    archive: str
    digest: str
    size_bytes: int
    seconds: float
    cached: bool

    @property
    def size_mb(self) -> float:
        return self.size_bytes / 1e6


def cache_dir() -> Path:
    return binaries.cache_dir() / "images"


def require_tools() -> None:
    """buildah and mmdebstrap (Debian's packages); fail naming what is missing."""
    missing = [tool for tool in ("buildah", "mmdebstrap") if shutil.which(tool) is None]
    if missing:
        raise ImageBuildError(
            f"{', '.join(missing)} not found: run `make system-deps-images` "
            "(apt-get install buildah mmdebstrap)"
        )


def host_python() -> Path:
    """The prefix of the CPython 3.12 `make install` uses (pyenv's, or PY312)."""
    exe = os.environ.get("PY312") or shutil.which(f"python{PYTHON}")
    candidates = [Path(exe)] if exe else []
    candidates += sorted(Path.home().glob(f".pyenv/versions/{PYTHON}.*/bin/python{PYTHON}"))
    for candidate in candidates:
        resolved = candidate.resolve()
        prefix = resolved.parent.parent
        if (prefix / "lib" / f"python{PYTHON}" / "os.py").is_file():
            return prefix
    raise ImageBuildError(f"no CPython {PYTHON} found (looked at PY312, PATH, ~/.pyenv)")


def _digest_files(paths: Iterable[Path], hasher: hashlib._Hash) -> None:
    for path in sorted(paths):
        if path.is_dir():
            _digest_files(
                (p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts),
                hasher,
            )
        elif path.is_file():
            hasher.update(str(path.relative_to(ROOT)).encode())
            hasher.update(path.read_bytes())


def base_key(python_prefix: Path, packages: Sequence[str]) -> str:
    hasher = hashlib.sha256()
    hasher.update("|".join((SUITE, MIRROR, *packages, *STRIP)).encode())
    hasher.update(str(python_prefix).encode())
    hasher.update((python_prefix / "bin" / f"python{PYTHON}").read_bytes()[: 1 << 20])
    return hasher.hexdigest()[:12]


def image_key(image: Image, base: str) -> str:
    """The cache key: the bases, the inputs' content, and the time and revision the image is
    stamped with (so the key names exactly one image)."""
    hasher = hashlib.sha256()
    hasher.update(f"{base}|{VERSION}|{image.target}".encode())
    hasher.update(f"{source_epoch(image)}|{revision(image)}".encode())
    _digest_files([ROOT / image.containerfile, *(ROOT / p for p in image.inputs)], hasher)
    return hasher.hexdigest()[:12]


class Buildah:
    """buildah with its own storage under the cache (vfs driver: works on any filesystem,
    needs no fuse or overlay mounts), chroot isolation for RUN steps."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.global_args = [
            "--root",
            str(root / "storage"),
            "--runroot",
            str(root / "run"),
            "--storage-driver",
            "vfs",
        ]

    def __call__(self, *args: str, capture: bool = False, log: Path | None = None) -> str:
        cmd = ["buildah", *self.global_args, *args]
        env = {**os.environ, "BUILDAH_ISOLATION": "chroot", "STORAGE_DRIVER": "vfs"}
        if log is not None:
            with log.open("ab") as out:
                out.write(f"$ {' '.join(cmd)}\n".encode())
                out.flush()
                done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
            if done.returncode != 0:
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
                raise ImageBuildError(f"`buildah {args[0]}` failed; log {log}:\n{tail}")
            return ""
        result = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if result.returncode != 0:
            why = result.stderr.strip()
            raise ImageBuildError(f"`buildah {' '.join(args[:2])}` failed: {why}")
        return result.stdout.strip() if capture else ""


def build_base(
    buildah: Buildah, python_prefix: Path, name: str, packages: Sequence[str], log: Path
) -> str:
    """A Python base image: Debian's ``packages`` (mmdebstrap) plus the host's CPython 3.12
    in /usr/local, committed to buildah's storage and kept as an OCI archive; its
    reference."""
    key = base_key(python_prefix, packages)
    reference = f"localhost/{name}:{PYTHON}-{key}"
    archive = cache_dir() / f"{name}-{key}.oci.tar"
    if _has_image(buildah, reference):
        return reference
    if archive.is_file():
        # The storage was emptied but the archive kept: load it (pull prints the image id).
        pulled = buildah("pull", "--quiet", f"oci-archive:{archive}", capture=True)
        buildah("tag", pulled.splitlines()[-1], reference, log=log)
        return reference
    with tempfile.TemporaryDirectory(prefix="pace-base-") as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        strip = " ".join(STRIP)
        cmd = [
            "mmdebstrap",
            "--mode=root",
            "--variant=minbase",
            "--format=tar",
            f"--include={','.join(packages)}",
            f"--customize-hook=copy-in {python_prefix}/bin {python_prefix}/lib "
            f"{python_prefix}/include /usr/local",
            '--customize-hook=chroot "$1" ldconfig',
            f'--customize-hook=cd "$1" && for p in {strip}; do rm -rf ".$p"; done',
            SUITE,
            str(rootfs),
            MIRROR,
        ]
        with log.open("ab") as out:
            out.write(f"$ {' '.join(cmd)}\n".encode())
            out.flush()
            done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT)
        if done.returncode != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
            raise ImageBuildError(f"mmdebstrap failed; log {log}:\n{tail}")
        container = buildah("from", "--quiet", "scratch", capture=True)
        try:
            buildah("add", container, str(rootfs), "/", log=log)
            buildah(
                "config",
                "--env",
                "PATH=/usr/local/bin:/usr/bin:/bin",
                "--env",
                "LANG=C.UTF-8",
                "--cmd",
                f"python{PYTHON}",
                "--label",
                f"org.opencontainers.image.description=Debian {SUITE} libraries (mmdebstrap) "
                f"and CPython {PYTHON} in /usr/local",
                container,
                log=log,
            )
            buildah("commit", "--quiet", container, reference, log=log)
        finally:
            buildah("rm", container)
    buildah("push", "--quiet", reference, f"oci-archive:{archive}:{reference}", log=log)
    return reference


def stale(names: Iterable[str], image: str, key: str) -> list[str]:
    """Of these archive file names or storage references, those of other builds of
    ``image`` than the one with ``key`` (pure)."""
    own = (f"{image}-", f"localhost/{image}:{image}-")
    return [
        n
        for n in names
        if any(n.startswith(p) for p in own)
        and not n.removesuffix(".oci.tar").endswith(f"-{key}")
        and not n.startswith(f"{image}-build-")  # pace-python-build is not pace-python's
    ]


def prune(buildah: Buildah, image: str, key: str, *, archives: Path | None) -> None:
    """Forget older builds of an image once a new one is archived: their archives (in
    ``archives``, the cache) and their images and unused layers in buildah's storage. The vfs
    driver stores every layer as a full copy, so without this each build of a changed commit
    leaves about 2 GB behind (42 GB were found after a few dozen builds)."""
    if archives is not None:
        for old in stale((a.name for a in archives.glob(f"{image}-*.oci.tar")), image, key):
            (archives / old).unlink(missing_ok=True)
    listed = buildah("images", "--format", "{{.Name}}:{{.Tag}}", capture=True).split()
    for reference in stale(listed, image, key):
        buildah("rmi", "--force", reference)
    buildah("rmi", "--prune")


def _has_image(buildah: Buildah, reference: str) -> bool:
    try:
        buildah("inspect", "--type", "image", reference, capture=True)
    except ImageBuildError:
        return False
    return True


def archive_facts(archive: Path) -> tuple[str, int]:
    """The image's manifest digest and its size (compressed layers and config) in an OCI
    archive, read from the archive itself."""
    with tarfile.open(archive) as tar:
        index = json.load(_member(tar, "index.json"))
        manifest_desc = index["manifests"][0]
        digest = manifest_desc["digest"]
        manifest = json.load(_member(tar, f"blobs/{digest.replace(':', '/')}"))
    size = manifest["config"]["size"] + sum(layer["size"] for layer in manifest["layers"])
    return str(digest), int(size)


def layer_files(archive: Path) -> dict[str, str]:
    """Every file of every layer of the image in an OCI archive: path -> sha256 of its
    content and mode (what tells two builds apart when their digests differ)."""
    files: dict[str, str] = {}
    with tarfile.open(archive) as tar:
        index = json.load(_member(tar, "index.json"))
        digest = index["manifests"][0]["digest"]
        manifest = json.load(_member(tar, f"blobs/{digest.replace(':', '/')}"))
        for number, layer in enumerate(manifest["layers"]):
            blob = _member(tar, f"blobs/{layer['digest'].replace(':', '/')}")
            with tarfile.open(fileobj=blob, mode="r|*") as inner:
                for member in inner:
                    content = inner.extractfile(member) if member.isfile() else None
                    body = content.read() if content is not None else member.linkname.encode()
                    facts = f"{member.mode:o}|{member.mtime}|{member.uid}:{member.gid}|"
                    digest_of = hashlib.sha256(facts.encode() + body).hexdigest()[:16]
                    files[f"{number}:{member.name}"] = digest_of
    return files


def differences(first: Path, second: Path, *, limit: int = 20) -> list[str]:
    """The layer files that differ between two image archives (at most ``limit``)."""
    a, b = layer_files(first), layer_files(second)
    names = sorted(n for n in a.keys() | b.keys() if a.get(n) != b.get(n))
    return names[:limit]


def _member(tar: tarfile.TarFile, name: str) -> IO[bytes]:
    found = tar.extractfile(name)
    if found is None:
        raise ImageBuildError(f"{tar.name!r}: no {name}")
    return found


def trust_args() -> list[str]:
    """The host's CA bundle for the build's RUN steps (mounted, never baked in): this machine
    (and many CI machines) reach PyPI through a TLS-intercepting proxy whose CA only the
    host's bundle carries."""
    bundle = os.environ.get("SSL_CERT_FILE") or "/etc/ssl/certs/ca-certificates.crt"
    if not Path(bundle).is_file():
        return []
    inside = "/etc/ssl/certs/ca-certificates.crt"
    return [
        "--volume",
        f"{bundle}:{inside}:ro",
        "--build-arg",
        f"SSL_CERT_FILE={inside}",
        "--build-arg",
        f"PIP_CERT={inside}",
    ]


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
    )
    return done.stdout.strip()


def image_paths(image: Image) -> list[str]:
    """What an image is made of, relative to the repository (its Containerfile, its inputs)."""
    return [image.containerfile, *image.inputs]


def source_epoch(image: Image) -> str:
    """The time of the last commit that changed the image's inputs (SOURCE_DATE_EPOCH): every
    layer file and the image's created time get it, so the same inputs give the same image
    at any later commit."""
    found = _git("log", "-1", "--format=%ct", "--", *image_paths(image))
    return os.environ.get("SOURCE_DATE_EPOCH") or found or "0"


def revision(image: Image) -> str:
    """The last commit that changed the image's inputs (``-dirty`` when they have
    uncommitted changes): the ``org.opencontainers.image.revision`` label."""
    found = _git("log", "-1", "--format=%h", "--abbrev=12", "--", *image_paths(image))
    dirty = _git("status", "--porcelain", "--", *image_paths(image))
    return (found or "unknown") + ("-dirty" if dirty else "")


def build(
    names: Sequence[str] | None = None, *, out: TextIO = sys.stdout, into: Path | None = None
) -> list[Built]:
    """Build (or find in the cache) each image; print and record digest, size and time.

    ``into``: build again into this directory whatever the cache holds, and record nothing
    (how reproducibility is checked: the same inputs must give the same digest)."""
    require_tools()
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    target_dir = into or cache
    log = cache / "build.log"
    buildah = Buildah(cache / "buildah")
    prefix = host_python()
    base_id = base_key(prefix, BASE_PACKAGES) + base_key(prefix, BUILD_PACKAGES)
    if names and "pace-operator" in names:
        names = [*names, "pace-pipeline"]  # the operator image is built on it
    wanted = [i for i in IMAGES if not names or i.name in names]
    unknown = set(names or ()) - {i.name for i in IMAGES}
    if unknown:
        known = [i.name for i in IMAGES]
        raise ImageBuildError(f"unknown image(s) {sorted(unknown)}; known: {known}")
    results: list[Built] = []
    bases: tuple[str, str] | None = None
    for image in wanted:
        key = image_key(image, base_id)
        archive = target_dir / f"{image.name}-{key}.oci.tar"
        reference = f"localhost/{image.name}:{VERSION}"
        started = time.monotonic()
        cached = archive.is_file() and into is None
        if not cached:
            if bases is None:
                print(f"base images (Debian {SUITE} + CPython {PYTHON}) ...", file=out, flush=True)
                bases = (
                    build_base(buildah, prefix, "pace-python", BASE_PACKAGES, log),
                    build_base(buildah, prefix, "pace-python-build", BUILD_PACKAGES, log),
                )
            print(f"building {image.name} ({image.containerfile}) ...", file=out, flush=True)
            if image.target == "operator":
                # The pipeline image (built first, same inputs) is the operator's base.
                pipeline = next(b for b in results if b.name == "pace-pipeline")
                exact = f"localhost/pace-pipeline:{Path(pipeline.archive).name.split('.')[0]}"
                if not _has_image(buildah, exact):
                    buildah("pull", "--quiet", f"oci-archive:{pipeline.archive}", log=log)
                    buildah("tag", pipeline.reference, exact, log=log)
                extra = ["--build-arg", f"PIPELINE={exact}"]
            else:
                extra = []
            buildah(
                "bud",
                *trust_args(),
                *extra,
                "--isolation",
                "chroot",
                "--network",
                "host",  # RUN steps use the host's network: no CNI bridge is made for them
                "--layers=false",
                "--timestamp",
                source_epoch(image),
                "--pull-never",
                "--file",
                str(ROOT / image.containerfile),
                *(["--target", image.target] if image.target else []),
                "--ignorefile",
                str(ROOT / ".containerignore"),
                "--build-arg",
                f"BASE={bases[0]}",
                "--build-arg",
                f"BUILD_BASE={bases[1]}",
                "--build-arg",
                f"VERSION={VERSION}",
                "--build-arg",
                f"REVISION={revision(image)}",
                "--tag",
                reference,
                "--tag",
                f"localhost/{image.name}:{image.name}-{key}",  # this very build (see PIPELINE)
                str(ROOT),
                log=log,
            )
            tmp = archive.with_suffix(".partial")
            tmp.unlink(missing_ok=True)
            buildah("push", "--quiet", reference, f"oci-archive:{tmp}:{reference}", log=log)
            tmp.replace(archive)
            prune(buildah, image.name, key, archives=None if into else target_dir)
        digest, size = archive_facts(archive)
        built = Built(
            name=image.name,
            reference=reference,
            archive=str(archive),
            digest=digest,
            size_bytes=size,
            seconds=round(time.monotonic() - started, 1),
            cached=cached,
        )
        budget = SIZE_BUDGET_MB[image.name]
        verdict = "within" if built.size_mb <= budget else "OVER"
        print(
            f"{image.name}: {digest} {built.size_mb:.0f} MB ({verdict} budget {budget} MB), "
            f"{'cached' if cached else f'built in {built.seconds:.0f}s'}: {archive}",
            file=out,
            flush=True,
        )
        results.append(built)
    if into is not None:
        return results
    record = cache / "images.json"
    known = json.loads(record.read_text()) if record.is_file() else {}
    known.update({b.name: asdict(b) for b in results})
    record.write_text(json.dumps(known, indent=2) + "\n")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pace.localstack.images")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build the images (skipped when their inputs are unchanged)")
    b.add_argument("--only", action="append", default=None, help="build only this image")
    sub.add_parser("list", help="print the recorded images as JSON")
    args = parser.parse_args(argv)
    if args.command == "list":
        record = cache_dir() / "images.json"
        print(record.read_text() if record.is_file() else "{}")
        return 0
    try:
        build(args.only)
    except ImageBuildError as exc:
        print(f"make images: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
