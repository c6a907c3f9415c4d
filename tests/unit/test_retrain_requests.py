"""Retrain request annotations: round trip, bare reasons, and errors naming the problem."""

import pytest

from pace.core import retrain_requests
from pace.core.retrain_requests import InvalidRequest, RetrainRequest


def test_round_trip_and_policy_ids() -> None:
    request = RetrainRequest(id="wine#3", reason="drift: wine", auto_promote=False)
    assert retrain_requests.parse(request.encode()) == request
    assert retrain_requests.policy_request_id("wine", 3, "0123456789ab") == "wine#3@01234567"


def test_a_model_remembers_the_latest_requests_it_took() -> None:
    taken: list[str] = []
    for n in range(12):
        taken = retrain_requests.remember(taken, f"p#{n}")
    assert taken == [f"p#{n}" for n in range(2, 12)]
    assert retrain_requests.remember(taken, "p#5")[-1] == "p#5"
    assert len(retrain_requests.remember(taken, "p#5")) == 10


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
