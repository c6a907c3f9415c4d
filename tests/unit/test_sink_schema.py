"""Row checks of the inference sink (pace.core.sink_schema) and its tokens (sink_auth)."""

from __future__ import annotations

import math

import pytest

from pace.core import sink_auth, sink_schema

META = {"_id": "p1", "_index": 0, "_ts": 1.0, "_version": "v1"}
REFERENCE = {
    "features": ["alcohol", "colour", "ash"],
    "categorical": ["colour"],
    "statistics": {
        "alcohol": {"missing": 0.0},
        "colour": {"missing": 0.0},
        "ash": {"missing": 0.1},
    },
}


def schema() -> sink_schema.Schema:
    return sink_schema.from_reference(REFERENCE, version="v1")


def test_the_reference_fixes_kinds_and_which_columns_may_be_missing() -> None:
    found = schema()
    assert found.columns == {
        "alcohol": sink_schema.Column("numeric", nullable=False),
        "colour": sink_schema.Column("categorical", nullable=False),
        "ash": sink_schema.Column("numeric", nullable=True),
    }
    assert found.source == "reference v1"


def test_values_are_normalised_to_their_column_type() -> None:
    row = META | {"alcohol": 13, "colour": 2, "ash": None}
    checked = sink_schema.check_row(row, schema(), where="request row 0")
    assert checked == META | {"alcohol": 13.0, "colour": "2", "ash": None}
    assert isinstance(checked["alcohol"], float)
    nan_allowed = sink_schema.check_row(
        META | {"alcohol": 1.0, "colour": "red", "ash": math.nan}, schema(), where="r"
    )
    assert nan_allowed["ash"] is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"alcohol": "x"}, "request row 3, column 'alcohol': expected a number, got 'x'"),
        ({"alcohol": True}, "column 'alcohol': expected a number, got True"),
        ({"alcohol": math.nan}, "column 'alcohol': NaN where the schema allows no missing"),
        ({"alcohol": None}, "column 'alcohol': null where the schema allows no missing"),
        ({"alcohol": math.inf}, "column 'alcohol': inf is not a finite number"),
        ({"colour": [1, 2]}, "column 'colour': expected a category (text or number)"),
        ({"colour": {"a": 1}}, "column 'colour': expected a category"),
        ({"sugar": 1.0}, "column 'sugar' is not in the schema (reference v1): alcohol, colour"),
    ],
)
def test_a_row_that_does_not_fit_is_refused_naming_row_and_column(
    values: dict[str, object], message: str
) -> None:
    row = META | {"alcohol": 1.0, "colour": "red", "ash": 2.0} | values
    with pytest.raises(sink_schema.RowError) as err:
        sink_schema.check_row(row, schema(), where="request row 3")
    assert message in str(err.value)


def test_positional_rows_map_onto_the_features_in_order() -> None:
    row = META | {"f0": 1.5, "f1": "red", "f2": 0.5}
    assert sink_schema.check_row(row, schema(), where="r") == META | {
        "alcohol": 1.5,
        "colour": "red",
        "ash": 0.5,
    }
    with pytest.raises(sink_schema.RowError, match="has 2 values but the schema"):
        sink_schema.check_row(META | {"f0": 1.0, "f1": "red"}, schema(), where="r")


def test_without_a_reference_the_first_row_fixes_the_types() -> None:
    first = sink_schema.from_row(META | {"f0": 1})
    assert first.columns == {"f0": sink_schema.Column("numeric", nullable=False)}
    with pytest.raises(sink_schema.RowError, match="column 'f0': expected a number, got 'x'"):
        sink_schema.check_row(META | {"f0": "x"}, first, where="request row 0")


def test_response_probabilities_must_be_finite() -> None:
    sink_schema.check_finite([{"_p:a": 0.5, "_value": 1.0, "prediction": "[NaN]"}], prefix="r")
    with pytest.raises(sink_schema.RowError, match="response row 1, column '_p:b': nan"):
        sink_schema.check_finite([{"_p:b": 0.1}, {"_p:b": math.nan}], prefix="response")


def test_a_namespace_token_opens_its_own_namespace_only() -> None:
    key = b"0123456789abcdef"
    token = sink_auth.namespace_token(key, "team-a")
    assert sink_auth.is_namespace_token(token)
    assert sink_auth.token_namespace(key, token, "team-a")
    assert not sink_auth.token_namespace(key, token, "team-b")
    assert not sink_auth.token_namespace(b"another key 1234", token, "team-a")


def test_the_token_is_read_from_the_header_or_the_query() -> None:
    assert sink_auth.presented_token({"Authorization": "Bearer abc"}, {}) == "abc"
    assert sink_auth.presented_token({}, {"token": "xyz"}) == "xyz"
    assert sink_auth.presented_token({"Authorization": "Basic abc"}, {}) is None
    assert sink_auth.presented_token({}, {}) is None


def test_a_service_account_writes_for_its_own_namespace() -> None:
    assert sink_auth.service_account_namespace("system:serviceaccount:team-a:feeder") == "team-a"
    assert sink_auth.service_account_namespace("alice") is None
    assert sink_auth.service_account_namespace("system:serviceaccount:team-a") is None
    assert sink_auth.service_account_namespace(None) is None
