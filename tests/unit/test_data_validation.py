"""Data validation: errors fail the run, drift from the reference warns."""

import pandas as pd

from pace.core import data_validation


def frame(n: int = 30, **cols: list[float]) -> pd.DataFrame:
    base = {"a": [float(i) for i in range(n)], "target": [i % 2 for i in range(n)]}
    return pd.DataFrame({**base, **cols})


def test_clean_frame_passes() -> None:
    report = data_validation.validate_frame(frame(), target="target", task="classification")
    assert report.passed, report.text()
    assert report.statistics["a"]["kind"] == "numeric"


def test_errors_name_the_column() -> None:
    bad = frame()
    bad.loc[:20, "a"] = None
    report = data_validation.validate_frame(bad, target="target", task="regression")
    assert not report.passed
    assert any("'a'" in e and "missing" in e for e in report.errors)
    one_class = frame().assign(target=1)
    report = data_validation.validate_frame(one_class, target="target", task="classification")
    assert any("fewer than 2 classes" in e for e in report.errors)


def test_reference_changes() -> None:
    reference = data_validation.statistics(frame().assign(b=[1.0] * 30))
    shifted = frame().assign(a=[1000.0 + i for i in range(30)])
    report = data_validation.validate_frame(
        shifted, target="target", task="classification", reference=reference
    )
    assert report.passed  # a dropped feature and a range change only warn
    assert any("'b'" in w for w in report.warnings)
    assert any("'a'" in w and "outside the reference" in w for w in report.warnings)
    retyped = frame().assign(a=["x"] * 30)
    report = data_validation.validate_frame(
        retyped, target="target", task="classification", reference=reference
    )
    assert any("changed type" in e for e in report.errors)
