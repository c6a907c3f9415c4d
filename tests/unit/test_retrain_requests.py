"""Retrain request annotations: round trip, bare reasons, and errors naming the problem."""

import pytest

from pace.core import retrain_requests
from pace.core.retrain_requests import InvalidRequest, RetrainRequest


def test_round_trip_and_policy_ids() -> None:
    request = RetrainRequest(id="wine#3", reason="drift: wine", auto_promote=False)
    assert retrain_requests.parse(request.encode()) == request
    assert retrain_requests.policy_request_id("wine", 3) == "wine#3"


def test_a_bare_value_is_a_manual_reason() -> None:
    request = retrain_requests.parse("new labels arrived")
    assert request.reason == "manual: new labels arrived"
    assert request.id == "manual:new labels arrived"
    assert request.auto_promote


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "is empty"),
        ("{not json", "not valid JSON"),
        ('{"reason": "x"}', "id must be a non-empty string"),
        ('{"id": "a"}', "reason must be a non-empty string"),
        ('{"id": "a", "reason": "x", "autoPromote": "no"}', "autoPromote must be true or false"),
    ],
)
def test_invalid_values_are_named(value: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        retrain_requests.parse(value)
