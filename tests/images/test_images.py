"""The built images (`make images`) run: each entrypoint answers --help in a container, as the
user the image says, with no package manager or compiler inside, and the labels set.

The container is buildah's (`buildah run`, chroot isolation on the image's own root
filesystem, the image's user, environment and working directory); `make images` must have run
(`make test-images` does that first).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pace.localstack import images

pytestmark = pytest.mark.timeout(900)


def recorded() -> dict[str, Any]:
    record = images.cache_dir() / "images.json"
    if not record.is_file():
        pytest.fail("no images recorded: run `make images` first")
    found: dict[str, Any] = json.loads(record.read_text())
    return found


@pytest.fixture(scope="module")
def buildah() -> images.Buildah:
    images.require_tools()
    return images.Buildah(images.cache_dir() / "buildah")


@pytest.fixture(scope="module", params=[i.name for i in images.IMAGES])
def container(request: pytest.FixtureRequest, buildah: images.Buildah) -> Iterator[tuple[str, str]]:
    """A working container of the image, from its OCI archive (what a node would import)."""
    entry = recorded().get(request.param)
    if entry is None:
        pytest.fail(f"{request.param} was not built: run `make images`")
    ref = buildah(
        "from", "--quiet", "--pull-always", f"oci-archive:{entry['archive']}", capture=True
    )
    try:
        yield request.param, ref
    finally:
        buildah("rm", ref)


def run(buildah: images.Buildah, ctr: str, *cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "buildah",
            *buildah.global_args,
            "run",
            "--isolation",
            "chroot",
            "--network",
            "host",  # no CNI bridge or iptables chains made on the host
            ctr,
            "--",
            *cmd,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_entrypoint_answers_help_as_a_non_root_user(
    buildah: images.Buildah, container: tuple[str, str]
) -> None:
    name, ctr = container
    spec = next(i for i in images.IMAGES if i.name == name)
    config = json.loads(buildah("inspect", "--type", "container", ctr, capture=True))
    image_config = config["OCIv1"]["config"]
    assert image_config["User"] == "65532:65532"
    labels = image_config["Labels"]
    assert labels["org.opencontainers.image.version"] == images.VERSION
    assert labels["org.opencontainers.image.title"] == name
    assert labels["org.opencontainers.image.revision"] not in ("", "unknown")
    entrypoint = image_config.get("Entrypoint") or []
    if entrypoint:  # the pipeline image has none: Kubeflow gives each step its command
        assert list(spec.smoke) == [*entrypoint, "--help"]
    helped = run(buildah, ctr, *spec.smoke)
    assert helped.returncode == 0, helped.stderr[-2000:]
    assert "usage" in (helped.stdout + helped.stderr).lower()
    who = run(
        buildah,
        ctr,
        "python3",
        "-c",
        "import getpass, os; print(os.getuid(), os.getgid(), getpass.getuser())",
    )
    # A named user: kopf's identity (getpass.getuser) fails on a uid without one.
    assert who.stdout.split() == ["65532", "65532", "pace"], who.stderr


def test_no_package_manager_or_compiler_inside(
    buildah: images.Buildah, container: tuple[str, str]
) -> None:
    _name, ctr = container
    probe = run(
        buildah,
        ctr,
        "python3",
        "-c",
        "import shutil, importlib.util as u;"
        "print([t for t in ('apt', 'apt-get', 'dpkg', 'pip', 'pip3', 'gcc', 'g++', 'cc', 'uv')"
        " if shutil.which(t)], u.find_spec('pip') is not None)",
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "[] False"


def test_the_same_inputs_give_the_same_digest(tmp_path: Path) -> None:
    """Built again from the same inputs, the model-server image is byte-for-byte the image
    `make images` recorded (layers, config, manifest); the cheapest image, the same recipe
    as the others (`--timestamp` and the revision label from the last commit that changed the
    inputs, no bytecode written during the build)."""
    entry = recorded()["pace-model-server"]
    again = images.build(["pace-model-server"], into=tmp_path)[0]
    assert Path(again.archive).name == Path(entry["archive"]).name, "inputs changed: make images"
    assert again.digest == entry["digest"], images.differences(
        Path(entry["archive"]), Path(again.archive)
    )
