"""deploy/prometheus and deploy/grafana load in their tools' own checkers: `promtool check
rules`, `promtool test rules` (each alert fires on the series that should raise it and stays
quiet otherwise), `promtool check config`, and every dashboard query parsed by promtool too."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.observability.monitoring import ALERTS, DEPLOY, dashboard, dashboard_exprs

PROMETHEUS = DEPLOY / "prometheus"


def _promtool(*args: str, cwd: Path = PROMETHEUS) -> str:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: `make system-deps` installs Debian's prometheus"
    result = subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_alert_rules_pass_promtools_check() -> None:
    assert "SUCCESS: 7 rules found" in _promtool("check", "rules", ALERTS.name)


def test_each_alert_fires_when_it_should_and_only_then() -> None:
    tested = yaml.safe_load((PROMETHEUS / "alerts.test.yml").read_text(encoding="utf-8"))
    alerts = {
        r["alert"]
        for g in yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
        for r in g["rules"]
    }
    covered = {a["alertname"] for t in tested["tests"] for a in t["alert_rule_test"]}
    assert covered == alerts  # every alert has its unit test
    assert "SUCCESS" in _promtool("test", "rules", "alerts.test.yml")


def test_the_scrape_configuration_passes_promtools_check(tmp_path: Path) -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text(encoding="utf-8"))
    token = tmp_path / "closeout-metrics-token"
    token.write_text("t" * 40)
    api_job = next(j for j in config["scrape_configs"] if j["job_name"] == "closeout-api")
    assert api_job["authorization"]["credentials_file"] == "/etc/prometheus/closeout-metrics-token"
    api_job["authorization"]["credentials_file"] = str(token)
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    shutil.copy(ALERTS, tmp_path / ALERTS.name)
    assert "SUCCESS" in _promtool("check", "config", "prometheus.yml", cwd=tmp_path)


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    board = dashboard()
    assert board["uid"] == "closeout" and board["title"] == "Closeout"
    assert all(p["targets"] and p["datasource"]["uid"] == "${datasource}" for p in board["panels"])
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
    # Each query as a recording rule, Grafana's interval variable given a value: promtool parses
    # every expression as Prometheus would.
    rules = [
        {"record": f"closeout:dashboard_query_{n}", "expr": e.replace("$__rate_interval", "5m")}
        for n, e in enumerate(dashboard_exprs())
    ]
    (tmp_path / "queries.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "q", "rules": rules}]})
    )
    assert f"SUCCESS: {len(rules)} rules found" in _promtool(
        "check", "rules", "queries.yml", cwd=tmp_path
    )


@pytest.mark.parametrize("broken", ["sum(rate(closeout_cases[5m]", "closeout_cases{stage=}"])
def test_the_check_would_catch_a_broken_query(tmp_path: Path, broken: str) -> None:
    (tmp_path / "bad.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "q", "rules": [{"record": "x:y", "expr": broken}]}]})
    )
    promtool = shutil.which("promtool")
    assert promtool
    result = subprocess.run(
        [promtool, "check", "rules", "bad.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode != 0
