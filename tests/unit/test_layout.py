"""operator/ and components/ are folders, not packages: an __init__.py there would make
`operator` shadow the standard library module on Python 3.12."""

from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_no_init_in_container_folders() -> None:
    assert not (ROOT / "operator" / "__init__.py").exists()
    assert not (ROOT / "components" / "__init__.py").exists()


def test_stdlib_operator_is_not_shadowed() -> None:
    import operator

    assert hasattr(operator, "itemgetter")
    assert not str(operator.__file__).startswith(str(ROOT / "operator"))
