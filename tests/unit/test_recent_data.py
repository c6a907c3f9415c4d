"""Fresh labelled rows for training: the join, positional inputs, label types, the window,
append / replace / too few."""

from __future__ import annotations

import pandas as pd
import pytest

from pace.core import recent_data as rd

BASE = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0], "target": [0, 1]})


def requests(rows: list[tuple[str, int, float, list[float]]], names: bool = False) -> pd.DataFrame:
    out = []
    for ident, index, ts, values in rows:
        columns = ["a", "b"] if names else ["f0", "f1"]
        out.append(
            {"_id": ident, "_index": index, "_ts": ts, **dict(zip(columns, values, strict=True))}
        )
    return pd.DataFrame(out)


def labels(rows: list[tuple[str, int, str, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"_id": i, "_index": x, "truth": t, "_ts": ts} for i, x, t, ts in rows])


def test_positional_inputs_join_their_newest_label_as_the_target() -> None:
    joined = rd.labelled_requests(
        requests(
            [("p1", 0, 10.0, [5.0, 6.0]), ("p2", 0, 11.0, [7.0, 8.0]), ("p3", 0, 12.0, [0, 0])]
        ),
        labels([("p1", 0, "0", 20.0), ("p1", 0, "1", 30.0), ("p2", 0, "x", 25.0)]),
    )
    rows, dropped = rd.to_training_rows(
        joined, features=["a", "b"], target="target", target_dtype=BASE["target"].dtype
    )
    assert rows.to_dict("records") == [{"a": 5.0, "b": 6.0, "target": 1}]  # newest label
    assert dropped == 1  # "x" is not an integer class
    assert rows["target"].dtype == BASE["target"].dtype


def test_named_inputs_keep_their_names_and_text_targets_stay_text() -> None:
    joined = rd.labelled_requests(
        requests([("p1", 0, 1.0, [5.0, 6.0])], names=True), labels([("p1", 0, "red", 2.0)])
    )
    rows, _ = rd.to_training_rows(
        joined, features=["a", "b"], target="colour", target_dtype=pd.Series(["x"]).dtype
    )
    assert rows.to_dict("records") == [{"a": 5.0, "b": 6.0, "colour": "red"}]


def test_inputs_of_another_width_are_refused_by_name() -> None:
    joined = rd.labelled_requests(
        pd.DataFrame([{"_id": "p", "_index": 0, "_ts": 1.0, "f0": 1.0}]),
        labels([("p", 0, "1", 2.0)]),
    )
    with pytest.raises(rd.RecentDataError, match="1 values, the data has 2 features"):
        rd.to_training_rows(joined, features=["a", "b"], target="target", target_dtype=int)


def test_window_by_rows_or_duration_up_to_the_cut_off() -> None:
    frame = pd.DataFrame({"_ts": [1.0, 2.0, 3.0, 4.0, 9.0], "x": [1, 2, 3, 4, 9]})
    assert rd.select_window(frame, rows=2, since=None, until=5.0)["x"].tolist() == [3, 4]
    assert rd.select_window(frame, rows=None, since=2.0, until=5.0)["x"].tolist() == [2, 3, 4]


def test_append_replace_and_too_few() -> None:
    recent = pd.DataFrame({"a": [9.0], "b": [9.0], "target": [1]})
    appended = rd.combine(BASE, recent, mode="append", min_rows=1)
    assert (appended.base_rows, appended.recent_rows, len(appended.frame)) == (2, 1, 3)
    replaced = rd.combine(BASE, recent, mode="replace", min_rows=1)
    assert (replaced.base_rows, replaced.recent_rows, len(replaced.frame)) == (0, 1, 1)
    few = rd.combine(BASE, recent, mode="append", min_rows=5)
    assert (few.recent_rows, few.found_rows, len(few.frame)) == (0, 1, 2)
    assert few.note == (
        "only 1 labelled rows in spec.dataset.recent.window, fewer than "
        "spec.dataset.recent.minRows (5): trained on the base data alone (2 rows)"
    )
