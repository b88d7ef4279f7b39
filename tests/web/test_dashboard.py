"""The shipped Grafana dashboard asks only for metrics that ``/metrics`` exposes, in PromQL
that Prometheus's own ``promtool`` accepts; the shipped Alertmanager configuration is valid
(``amtool``) and sends to ``/hooks/alertmanager`` with the hook's bearer token."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from bot.devtools.sandbox import Sandbox

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DASHBOARD = EXAMPLES / "grafana-dashboard.json"
ALERTMANAGER = EXAMPLES / "alertmanager.yml"


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    queries += [v["definition"] for v in dashboard["templating"]["list"] if v.get("definition")]
    return queries


def exposed_series(text: str) -> set[str]:
    """The series names a scrape of ``text`` can hold, from its ``# TYPE`` lines."""
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.MULTILINE):
        if kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        elif kind == "counter":  # the TYPE line names it with its _total
            base = name.removesuffix("_total")
            names |= {f"{base}_total", f"{base}_created"}
        else:
            names.add(name)
    return names


def test_the_dashboards_queries_name_metrics_that_metrics_exposes(database_url: str) -> None:
    with Sandbox.start(database_url=database_url) as sandbox:
        with urllib.request.urlopen(f"{sandbox.server.url}/metrics", timeout=10) as response:
            exposed = exposed_series(response.read().decode())
    queries = dashboard_queries()
    named = {name for query in queries for name in re.findall(r"\breleasebot_\w+", query)}
    assert len(named) >= 12
    assert named <= exposed, sorted(named - exposed)
    for name in named:  # labelled by runbook only: what the queries group and filter by
        assert "runbook" in next(q for q in queries if name in q)


@pytest.mark.skipif(not Path("/usr/bin/promtool").exists(), reason="promtool not installed")
def test_the_dashboards_queries_are_valid_promql(tmp_path: Path) -> None:
    rules = [
        {"record": f"releasebot:dashboard:{index}",
         "expr": query.replace("$window", "7d").replace("$runbook", ".*")}
        for index, query in enumerate(dashboard_queries())
        if not query.startswith("label_values(")
    ]  # fmt: skip
    path = tmp_path / "rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))  # JSON is YAML
    checked = subprocess.run(
        ["/usr/bin/promtool", "check", "rules", str(path)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{len(rules)} rules found" in checked.stdout


@pytest.mark.skipif(not Path("/usr/bin/amtool").exists(), reason="amtool not installed")
def test_the_alertmanager_example_is_valid_and_sends_to_the_hook() -> None:
    checked = subprocess.run(
        ["/usr/bin/amtool", "check-config", str(ALERTMANAGER)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = YAML(typ="safe").load(ALERTMANAGER.read_text())
    (receiver,) = [r for r in config["receivers"] if r["name"] == "releasebot"]
    (webhook,) = receiver["webhook_configs"]
    assert webhook["url"].endswith("/hooks/alertmanager")
    assert webhook["http_config"]["authorization"]["type"] == "Bearer"
