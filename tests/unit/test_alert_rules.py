"""The alerting rules: valid for Prometheus (`promtool check rules`), each alert fires on what
it should and not on its neighbours (`promtool test rules`, tests/alerts/), the files on disk
are what `pace alerts` generates, and every metric a rule reads is one the operator exports."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from pace.adapters import metrics
from pace.core import alert_rules

ROOT = Path(__file__).parents[2]
RULES = ROOT / "manifests" / "alerts" / alert_rules.FILE_NAME
CHART_RULES = ROOT / "charts" / "pace" / "files" / alert_rules.FILE_NAME
# promtool comes with Debian's prometheus, which `make install` (system-deps) installs.
PROMTOOL = shutil.which("promtool") or "promtool"


def test_the_files_are_generated_from_the_rules() -> None:
    assert RULES.read_text() == alert_rules.rules_text()
    assert CHART_RULES.read_text() == alert_rules.rules_text()


def test_promtool_accepts_the_rules() -> None:
    done = subprocess.run(
        [str(PROMTOOL), "check", "rules", str(RULES)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 7 rules found" in done.stdout


def test_each_alert_fires_when_it_should_and_only_then() -> None:
    done = subprocess.run(
        [str(PROMTOOL), "test", "rules", "pace-alerts.test.yaml"],
        cwd=ROOT / "tests" / "alerts",
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    tested = set(
        re.findall(r"alertname: (\w+)", (ROOT / "tests/alerts/pace-alerts.test.yaml").read_text())
    )
    assert tested == {r["alert"] for r in alert_rules.rules()["groups"][0]["rules"]}


def test_every_metric_a_rule_reads_is_exported() -> None:
    families = list(metrics.REGISTRY.collect())
    exported = {f.name for f in families} | {
        f"{f.name}_total" for f in families if f.type == "counter"
    }
    for rule in alert_rules.rules()["groups"][0]["rules"]:
        for name in re.findall(r"\b(pace_[a-z_]+)", rule["expr"]):
            assert name in exported, f"{rule['alert']} reads {name}, which nothing exports"


def test_shorter_thresholds_keep_the_expressions() -> None:
    """The e2e test loads the rules with a short `for`; only the durations differ."""
    quick = alert_rules.rules(alert_rules.Thresholds(drift_for="2s"))
    usual = alert_rules.rules()
    for a, b in zip(quick["groups"][0]["rules"], usual["groups"][0]["rules"], strict=True):
        assert a["expr"] == b["expr"]
    assert quick["groups"][0]["rules"][0]["for"] == "2s"
