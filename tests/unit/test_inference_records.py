"""Seldon logger events and labels to rows (keys, versions, answers, labels, errors)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from pace.core import inference_records as ir

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
HEADERS = {
    "Ce-Id": "event-1",
    "Ce-Requestid": "puid-1",
    "Ce-Type": "io.seldon.serving.inference.response",
    "Ce-Namespace": "ns",
    "Ce-Inferenceservicename": "wine",
    "Ce-Endpoint": "canary",
}


def body(message: object) -> bytes:
    return json.dumps(message).encode()


def test_rows_are_keyed_by_the_request_id_and_carry_the_version_of_the_logger_url() -> None:
    stream, rows = ir.parse(
        HEADERS,
        body({"data": {"names": ["0", "1", "2"], "ndarray": [[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]]}}),
        received=NOW,
        path="/versions/v3",
    )
    assert stream == ir.Stream("ns", "wine", "canary", "response")
    assert [(r["_id"], r["_index"], r["_version"]) for r in rows] == [
        ("puid-1", 0, "v3"),
        ("puid-1", 1, "v3"),
    ]
    assert rows[0]["_predicted"] == "1"
    assert rows[1]["_predicted"] == "0"
    assert rows[0]["_p:2"] == pytest.approx(0.2)
    assert json.loads(rows[0]["prediction"]) == [0.1, 0.7, 0.2]


def test_a_regression_answer_is_a_value_and_without_a_request_id_the_event_id_keys() -> None:
    headers = {k: v for k, v in HEADERS.items() if k != "Ce-Requestid"}
    _, rows = ir.parse(
        headers, body({"data": {"names": ["prediction"], "ndarray": [[3.5]]}}), received=NOW
    )
    assert rows[0]["_id"] == "event-1"
    assert rows[0]["_value"] == 3.5
    assert "_version" not in rows[0]


def test_feedback_labels_the_prediction_its_response_names() -> None:
    headers = {**HEADERS, "Ce-Type": "io.seldon.serving.feedback", "Ce-Requestid": "fb-9"}
    feedback = {
        "request": {"data": {"names": ["a", "b"], "ndarray": [[1.0, 2.0]]}},
        "response": {"meta": {"puid": "puid-7"}, "data": {"ndarray": [[0.2, 0.8]]}},
        "truth": {"data": {"ndarray": [[1.0]]}},
    }
    stream, rows = ir.parse(headers, body(feedback), received=NOW, path="/versions/v1")
    assert stream.kind == "label"
    assert rows == [
        {
            "_id": "puid-7",
            "_index": 0,
            "_ts": NOW.timestamp(),
            "_source": "feedback",
            "truth": "1",
            "a": 1.0,
            "b": 2.0,
        }
    ]
    assert ir.object_key(stream, at=NOW).startswith(
        "inference-logs/ns/wine/labels/date=2026-11-27/"
    )


def test_feedback_without_a_response_is_keyed_by_its_own_puid() -> None:
    headers = {**HEADERS, "Ce-Type": "io.seldon.serving.feedback"}
    _, rows = ir.parse(headers, body({"truth": {"data": {"ndarray": ["b"]}}}), received=NOW)
    assert (rows[0]["_id"], rows[0]["truth"]) == ("puid-1", "b")


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ({"reward": 1}, "feedback has no truth"),
        ({"truth": {"data": {"ndarray": [[1, 2]]}}}, "truth row 0 must be one number or string"),
        ({"truth": {"nope": 1}}, "truth has no data.ndarray list"),
    ],
)
def test_bad_feedback_is_refused_by_name(message: object, problem: str) -> None:
    headers = {**HEADERS, "Ce-Type": "io.seldon.serving.feedback"}
    with pytest.raises(ir.EventError, match=problem):
        ir.parse(headers, body(message), received=NOW)


def test_labels_api_rows() -> None:
    stream, rows = ir.label_rows(
        "ns",
        "wine",
        body({"labels": [{"id": "p1", "truth": 2}, {"id": "p2", "truth": "x", "index": 3}]}),
        received=NOW,
    )
    assert stream == ir.Stream("ns", "wine", "", "label")
    assert [(r["_id"], r["_index"], r["truth"], r["_source"]) for r in rows] == [
        ("p1", 0, "2", "api"),
        ("p2", 3, "x", "api"),
    ]


@pytest.mark.parametrize(
    ("namespace", "message", "problem"),
    [
        ("ns", {"labels": []}, "body must be"),
        ("ns", {"labels": [{"truth": 1}]}, r"labels\[0\]\.id must be a non-empty string"),
        (
            "ns",
            {"labels": [{"id": "p", "truth": 1}, {"id": "q"}]},
            r"labels\[1\]\.truth is missing",
        ),
        ("ns", {"labels": [{"id": "p", "truth": 1, "index": -1}]}, r"labels\[0\]\.index must be"),
        ("ns", {"labels": [{"id": "p", "truth": 1, "row": 1}]}, r"unknown field\(s\) row"),
        ("ns", {"labels": [{"id": "p", "truth": None}]}, r"labels\[0\]\.truth must be one"),
        ("../x", {"labels": [{"id": "p", "truth": 1}]}, "namespace '../x' is not"),
    ],
)
def test_bad_labels_are_refused_by_name(namespace: str, message: object, problem: str) -> None:
    with pytest.raises(ir.EventError, match=problem):
        ir.label_rows(namespace, "wine", body(message), received=NOW)


def test_version_of_a_logger_path() -> None:
    assert ir.version_of("/versions/v12") == "v12"
    assert ir.version_of("/sink/versions/v2/") == "v2"
    assert ir.version_of("/") is None
