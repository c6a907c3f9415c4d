"""crds/ is generated from the models: stale YAML fails; every field is documented."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from pace.api import crd_schema

CRDS = Path(__file__).parents[2] / "crds"


@pytest.mark.parametrize("name", sorted(crd_schema.render_all()))
def test_committed_crd_matches_models(name: str) -> None:
    assert (CRDS / name).read_text() == crd_schema.render_all()[name], (
        f"crds/{name} is stale: run `make crds`"
    )


def test_no_other_files_in_crds() -> None:
    assert sorted(p.name for p in CRDS.iterdir()) == sorted(crd_schema.render_all())


def _walk(node: dict[str, Any], path: str) -> list[str]:
    undocumented = []
    for name, sub in node.get("properties", {}).items():
        here = f"{path}.{name}"
        if name != "metadata" and not sub.get("description"):
            undocumented.append(here)
        undocumented += _walk(sub, here)
    if "items" in node:
        undocumented += _walk(node["items"], path + "[]")
    return undocumented


@pytest.mark.parametrize("info", crd_schema.RESOURCES, ids=lambda i: i.kind)
def test_every_field_has_a_description(info: crd_schema.CrdInfo) -> None:
    schema = crd_schema.render(info)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert _walk(schema, info.kind) == []


@pytest.mark.parametrize("info", crd_schema.RESOURCES, ids=lambda i: i.kind)
def test_structural_schema(info: crd_schema.CrdInfo) -> None:
    text = yaml.safe_dump(crd_schema.render(info))
    assert "$ref" not in text
    assert "anyOf" not in text
    assert "title:" not in text


def test_names_and_columns() -> None:
    crd = yaml.safe_load((CRDS / "mlops.pace.dev_mlmodels.yaml").read_text())
    names = crd["spec"]["names"]
    assert names["shortNames"] == ["mlm"]
    assert names["categories"] == ["pace"]
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert [c["name"] for c in version["additionalPrinterColumns"]] == [
        "Phase",
        "Step",
        "Serving",
        "Candidate",
        "Canary",
        "Drift",
        "Live",
        "Age",
    ]


def test_structural_converts_exclusive_bounds_and_nullable() -> None:
    node = {
        "anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "null"}],
        "default": None,
        "title": "X",
        "description": "d",
    }
    assert crd_schema.structural(node, {}) == {
        "type": "number",
        "minimum": 0,
        "exclusiveMinimum": True,
        "description": "d",
    }
