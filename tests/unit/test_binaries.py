"""The wrapper go.mod that makes k8s.io/kubernetes and etcd buildable from the proxy."""

from pathlib import Path

import pytest

from pace.localstack import binaries

K8S_GOMOD = """module k8s.io/kubernetes

go 1.25.0

require (
\tk8s.io/api v0.0.0
\tgithub.com/spf13/cobra v1.10.0
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
)
"""

ETCD_GOMOD = """module go.etcd.io/etcd/server/v3

replace (
\tgo.etcd.io/etcd/api/v3 => ../api
\tgo.etcd.io/etcd/client/pkg/v3 => ../client/pkg
)

replace go.etcd.io/etcd => ./FORBIDDEN_DEPENDENCY
"""


def test_kubernetes_staging_modules_map_to_v0_release() -> None:
    assert binaries.kubernetes_siblings(K8S_GOMOD, "v1.35.4") == {
        "k8s.io/api": "v0.35.4",
        "k8s.io/client-go": "v0.35.4",
    }


def test_etcd_siblings_map_to_same_tag() -> None:
    assert binaries.etcd_siblings(ETCD_GOMOD, "v3.6.16") == {
        "go.etcd.io/etcd/api/v3": "v3.6.16",
        "go.etcd.io/etcd/client/pkg/v3": "v3.6.16",
    }


def test_wrapper_gomod() -> None:
    text = binaries.wrapper_gomod(
        main_module="k8s.io/kubernetes",
        version="v1.35.4",
        sibling_versions={"k8s.io/api": "v0.35.4"},
    )
    assert "require k8s.io/kubernetes v1.35.4" in text
    assert "\tk8s.io/api => k8s.io/api v0.35.4" in text


def test_missing_binary_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PACE_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("KUBEBUILDER_ASSETS", raising=False)
    with pytest.raises(binaries.BinaryMissingError, match=r"kube-apiserver.*make controlplane"):
        binaries.locate("kube-apiserver")


def test_kubebuilder_assets_are_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "etcd").write_text("")
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(tmp_path))
    assert binaries.locate("etcd") == tmp_path / "etcd"


def test_stamp_mismatch_means_rebuild(tmp_path: Path) -> None:
    directory = binaries.ETCD.directory(tmp_path)
    directory.mkdir(parents=True)
    (directory / "etcd").write_text("")
    assert not binaries.is_current(binaries.ETCD, tmp_path)
    (directory / ".stamp").write_text(binaries.ETCD.stamp())
    assert binaries.is_current(binaries.ETCD, tmp_path)


def test_older_image_builds_are_found_for_pruning() -> None:
    from pace.localstack import images

    names = [
        "pace-pipeline-aaa.oci.tar",
        "pace-pipeline-bbb.oci.tar",
        "pace-python-build-ccc.oci.tar",
        "pace-operator-aaa.oci.tar",
        "localhost/pace-pipeline:pace-pipeline-aaa",
        "localhost/pace-pipeline:pace-pipeline-bbb",
        "localhost/pace-pipeline:0.1.0",
        "localhost/pace-python:pace-python-ddd",
    ]
    assert images.stale(names, "pace-pipeline", "bbb") == [
        "pace-pipeline-aaa.oci.tar",
        "localhost/pace-pipeline:pace-pipeline-aaa",
    ]
    assert images.stale(names, "pace-python", "ddd") == []
