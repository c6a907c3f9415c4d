"""JSON merge patches applied in memory: what a reconcile's write would change."""

from pace.core import merge_patch

OBJ = {"metadata": {"annotations": {"a": "1"}}, "status": {"phase": "Serving", "versions": [1]}}


def test_apply_merges_replaces_lists_and_removes_nulls() -> None:
    patched = merge_patch.apply(
        OBJ, {"metadata": {"annotations": {"a": None, "b": "2"}}, "status": {"versions": [2]}}
    )
    assert patched == {
        "metadata": {"annotations": {"b": "2"}},
        "status": {"phase": "Serving", "versions": [2]},
    }
    assert OBJ["status"]["versions"] == [1]  # the input is unchanged


def test_noops_are_recognised_and_stripped() -> None:
    same = {"status": {"phase": "Serving"}, "metadata": {"annotations": {"gone": None}}}
    assert not merge_patch.changes(OBJ, same)
    assert merge_patch.strip_noops(OBJ, same) == {}
    mixed = {"status": {"phase": "Serving", "canary": {"weight": 10}}}
    assert merge_patch.changes(OBJ, mixed)
    assert merge_patch.strip_noops(OBJ, mixed) == {"status": {"canary": {"weight": 10}}}
    assert merge_patch.strip_noops(OBJ, {"metadata": {"annotations": {"a": None}}}) == {
        "metadata": {"annotations": {"a": None}}
    }


def test_two_patches_compose_into_one_with_the_same_effect() -> None:
    target = {
        "metadata": {"name": "m"},
        "status": {"phase": "Pending", "conditions": [{"type": "A"}], "old": 1},
    }
    first = {"status": {"conditions": [{"type": "A"}, {"type": "B"}], "phase": "Training"}}
    second = {"status": {"conditions": [{"type": "A"}, {"type": "B"}, {"type": "C"}], "old": None}}
    composed = merge_patch.compose(first, second)
    assert composed == {
        "status": {
            "conditions": [{"type": "A"}, {"type": "B"}, {"type": "C"}],
            "phase": "Training",
            "old": None,
        }
    }
    stepwise = merge_patch.apply(merge_patch.apply(target, first), second)
    assert merge_patch.apply(target, composed) == stepwise
    assert first == {"status": {"conditions": [{"type": "A"}, {"type": "B"}], "phase": "Training"}}
