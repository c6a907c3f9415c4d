"""Fuzzing the annotations people write by hand: ``mlops.pace.dev/retrain`` and
``mlops.pace.dev/action``.

Property: whatever the value, the parser returns a well-formed request, or raises its own
error (`InvalidRequest`, `InvalidAction`) with a short message that names the annotation —
never another exception, which would fail every look at the model until the annotation went.
Values are drawn as any text, and as near-valid values made from the grammar with one part
changed; `@example` pins the cases that failed before the parsers were mended.
"""

from __future__ import annotations

import json
import string
from datetime import UTC, datetime

from hypothesis import example, given
from hypothesis import strategies as st

from pace.api.mlmodel import MLModel, MLModelStatus, VersionRecord
from pace.core import manual_actions, naming, retrain_requests, rollout
from pace.core.manual_actions import InvalidAction, ManualAction
from pace.core.retrain_requests import InvalidRequest, RetrainRequest
from pace.handlers import mlmodel_rollout

MAX_MESSAGE = 512  # an event message: the refused value is quoted back short
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# --- mlops.pace.dev/retrain --------------------------------------------------------------


def retrain_outcome(value: str) -> RetrainRequest | InvalidRequest:
    """What the parser makes of a value; any other exception fails the test."""
    try:
        return retrain_requests.parse(value)
    except InvalidRequest as exc:
        return exc


def assert_retrain_outcome(outcome: RetrainRequest | InvalidRequest) -> None:
    if isinstance(outcome, InvalidRequest):
        assert str(outcome).startswith(retrain_requests.ANNOTATION), outcome
        assert len(str(outcome)) <= MAX_MESSAGE
        return
    assert isinstance(outcome.id, str)
    assert outcome.id
    assert isinstance(outcome.reason, str)
    assert outcome.reason
    assert len(outcome.reason) <= retrain_requests.MAX_REASON
    assert isinstance(outcome.auto_promote, bool)
    assert _storable(outcome.id)
    assert _storable(outcome.reason)
    # What the operator stores and compares is what `pace retrain` would have written.
    assert retrain_requests.parse(outcome.encode()) == outcome


@given(st.text())
@example('{"id": "a", "reason": "b", "x": ' + "[" * 5000 + "]" * 5000 + "}")  # RecursionError
@example('{"id": ' + "1" * 5000 + ', "reason": "b"}')  # ValueError: int past 4300 digits
@example('{"id": "\\ud800", "reason": "b"}')  # a lone surrogate the API server would mangle
@example("\ud800")
def test_any_text_is_a_retrain_request_or_refused_by_name(value: str) -> None:
    assert_retrain_outcome(retrain_outcome(value))


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text()
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
# JSON text json.dumps never writes: too deep, too many digits, non-standard constants.
NASTY_FRAGMENTS = st.one_of(
    st.integers(900, 3000).map(deep),
    st.integers(4000, 6000).map(lambda digits: "9" * digits),
    st.sampled_from(["NaN", "Infinity", "-Infinity", '"\\ud800"', '"\\udfff x"', "1e999"]),
)
FRAGMENTS = JSON_VALUES.map(json.dumps) | NASTY_FRAGMENTS
VALID_FIELDS = {
    "id": st.text(min_size=1).map(json.dumps),
    "reason": st.text(min_size=1).map(json.dumps),
    "autoPromote": st.booleans().map(json.dumps),
}


@st.composite
def near_valid_retrain_values(draw: st.DrawFn) -> str:
    """A request object from the grammar, then some fields changed, dropped or added."""
    fields = {name: draw(strategy) for name, strategy in VALID_FIELDS.items()}
    for name in draw(st.sets(st.sampled_from(sorted(VALID_FIELDS)))):
        if draw(st.booleans()):
            del fields[name]
        else:
            fields[name] = draw(FRAGMENTS)
    for name in draw(st.lists(st.text(max_size=8), max_size=2)):
        fields[name] = draw(FRAGMENTS)
    body = "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in fields.items()) + "}"
    wrap = draw(st.sampled_from(["{}", " {} ", "[{}]", "{}}", "{}\n"]))
    return wrap.replace("{}", body, 1)


@given(near_valid_retrain_values())
def test_near_valid_retrain_requests_are_parsed_or_refused_by_name(value: str) -> None:
    outcome = retrain_outcome(value)
    assert_retrain_outcome(outcome)
    text = value.strip()
    if not text.startswith("{"):  # a bare reason, by design (`kubectl annotate ... =why`)
        reason = f"manual: {text}"[: retrain_requests.MAX_REASON]
        assert outcome == RetrainRequest(id=f"manual:{text[:64]}", reason=reason)
        return
    try:
        raw = json.loads(value)
    except (ValueError, RecursionError):
        assert isinstance(outcome, InvalidRequest)
        return
    valid = (
        isinstance(raw, dict)
        and isinstance(raw.get("id"), str)
        and isinstance(raw.get("reason"), str)
        and bool(raw["id"])
        and bool(raw["reason"])
        and _storable(raw["id"])
        and _storable(raw["reason"])
        and isinstance(raw.get("autoPromote", True), bool)
    )
    # Exactly the values the grammar allows are taken, and as written.
    assert isinstance(outcome, RetrainRequest) == valid, (value, outcome)
    if isinstance(outcome, RetrainRequest):
        assert (outcome.id, outcome.auto_promote) == (raw["id"], raw.get("autoPromote", True))


# --- mlops.pace.dev/action ---------------------------------------------------------------


def action_outcome(value: str) -> ManualAction | InvalidAction:
    try:
        return manual_actions.parse(value)
    except InvalidAction as exc:
        return exc


def assert_action_outcome(outcome: ManualAction | InvalidAction) -> None:
    if isinstance(outcome, InvalidAction):
        assert str(outcome).startswith(manual_actions.ANNOTATION), outcome
        assert len(str(outcome)) <= MAX_MESSAGE
        return
    assert outcome.verb in ("promote", "rollback")
    if outcome.version is not None:
        assert outcome.verb == "rollback"
        assert naming.VERSION_RE.fullmatch(outcome.version)
    assert manual_actions.parse(outcome.encode()) == outcome


@given(st.text())
@example("promote:v3")  # was taken as a plain promote of the candidate
@example("bogus")  # was refused without naming the annotation
@example("rollback:")  # was taken as a plain rollback
@example("rollback:v1\n")
def test_any_text_is_an_action_or_refused_by_name(value: str) -> None:
    assert_action_outcome(action_outcome(value))


VERSIONS = st.integers(0, 10**6).map(naming.version_name)
ODD_VERSIONS = st.one_of(st.text(max_size=10), VERSIONS.map(str.upper), VERSIONS.map(" {} ".format))


@st.composite
def near_valid_actions(draw: st.DrawFn) -> str:
    """promote | rollback | rollback:<version>, then one part changed."""
    verb = draw(st.sampled_from(["promote", "rollback"]))
    version = draw(st.none() | VERSIONS)
    text = verb if version is None else f"{verb}:{version}"
    change = draw(st.sampled_from(["none", "case", "pad", "verb", "version", "separator"]))
    if change == "case":
        text = text.upper() if draw(st.booleans()) else text.title()
    elif change == "pad":
        text = (
            draw(st.sampled_from(["", " ", "\t", "\n"])) + text + draw(st.text(" \n", max_size=2))
        )
    elif change == "verb":
        text = draw(st.text(string.ascii_letters, max_size=9)) + text[len(verb) :]
    elif change == "version":
        text = f"{verb}:{draw(ODD_VERSIONS)}"
    elif change == "separator":
        text = text.replace(":", draw(st.sampled_from(["", "=", "::", " ", ": "])), 1)
    return text


@given(near_valid_actions())
def test_near_valid_actions_are_parsed_or_refused_by_name(value: str) -> None:
    outcome = action_outcome(value)
    assert_action_outcome(outcome)
    text = value.strip()
    valid = text in ("promote", "rollback") or (
        text.startswith("rollback:")
        and naming.VERSION_RE.fullmatch(text.removeprefix("rollback:")) is not None
    )
    assert isinstance(outcome, ManualAction) == valid, (value, outcome)


def _model(**stages: str) -> MLModel:
    versions = [VersionRecord.model_validate({"version": v, "stage": s}) for v, s in stages.items()]
    serving = next((v for v, s in stages.items() if s == "production"), None)
    candidate = next((v for v, s in stages.items() if s in ("candidate", "canary")), None)
    return MLModel(
        name="wine",
        namespace="ns",
        spec={"task": "classification", "dataset": {"uri": "sklearn://wine", "target": "t"}},
        status=MLModelStatus(
            versions=versions, serving_version=serving, candidate_version=candidate
        ),
    )


MODEL = _model(v1="archived", v2="production", v3="rejected", v4="canary")


def rollout_outcome(action: ManualAction) -> rollout.RolloutStatus | InvalidAction | None:
    try:
        return mlmodel_rollout.manual(MODEL, action, now=NOW)
    except InvalidAction as exc:
        return exc


@given(near_valid_actions() | st.text())
@example("rollback:v3")  # rejected: was refused naming the model, not the annotation
@example("rollback:v9")  # no such version
def test_the_rollout_step_acts_on_an_action_or_refuses_it_by_name(value: str) -> None:
    """The whole manual path the rollout step runs (parse, then the target's checks)."""
    parsed = action_outcome(value)
    outcome = rollout_outcome(parsed) if isinstance(parsed, ManualAction) else parsed
    if isinstance(outcome, InvalidAction):
        assert str(outcome).startswith(manual_actions.ANNOTATION), outcome
        assert len(str(outcome)) <= MAX_MESSAGE
        return
    assert outcome is not None  # a candidate to promote or roll back is there
    assert outcome.serving_version in ("v1", "v2", "v4")
