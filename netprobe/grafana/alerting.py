"""Grafana unified-alerting provisioning: rules, an example contact point and notification policy.

Alert queries use `now()` instead of `$timeFilter`: Grafana expands `$NAME` as environment variables in
provisioned alerting files, so a query must contain no `$` at all. Every rule is multi-dimensional: the
InfluxQL GROUP BY tags (province, provider, commune, line, agent) become alert labels for routing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netprobe.grafana.build import DATASOURCE_UID, JSON
from netprobe.grafana.dashboards import (
    UID_AGENTS,
    UID_COMMUNE,
    UID_OVERVIEW,
    isolated_communes,
    last_line_state,
    outbox_drops,
)

FOLDER = "netprobe"
WINDOW = "time > now() - {ago} AND time <= now()"


@dataclass(frozen=True)
class Rule:
    uid: str
    title: str
    query: str
    lookback_s: int  # relativeTimeRange.from: documents the query's window (the query states it itself)
    reducer: str  # Grafana SSE reduce: last, sum, max, ...
    evaluator: tuple[str, list[float]]  # threshold type and params (within_range is exclusive)
    pending: str  # Grafana `for`
    summary: str
    description: str
    dashboard_uid: str
    severity: str
    labels: dict[str, str] = field(default_factory=dict)


def line_state_now() -> str:
    """Best of the agents' newest verdicts per line (the same rule as the dashboards' current state)."""
    return last_line_state(WINDOW.format(ago="5m"), '"province", "provider", "commune", "line"')


def agent_silent_query() -> str:
    # The 24 h window keeps a dead agent's series present (filled with 0) long after it stopped writing.
    return (
        'SELECT moving_average(count("cycle_s"), 6) * 6 AS "reports" FROM "netprobe_agent" '
        f'WHERE {WINDOW.format(ago="24h")} GROUP BY time(1m), "province", "agent" fill(0)'
    )


def rules() -> list[Rule]:
    line_labels = {"netprobe": "line"}
    return [
        Rule(
            "netprobe-line-unstable",
            "Line UNSTABLE for 10 minutes",
            line_state_now(),
            300,
            "last",
            ("within_range", [1.5, 2.5]),
            "10m",
            "{{ $labels.line }} ({{ $labels.provider }}, {{ $labels.commune }}) is UNSTABLE",
            "The verdict for line {{ $labels.line }} has been UNSTABLE for at least 10 minutes: loss, jitter or "
            "flaps above the line's thresholds. See the commune dashboard for the evidence.",
            UID_COMMUNE,
            "warning",
            line_labels,
        ),
        Rule(
            "netprobe-line-down",
            "Line DOWN for 2 minutes",
            line_state_now(),
            300,
            "last",
            ("within_range", [2.5, 3.5]),
            "2m",
            "{{ $labels.line }} ({{ $labels.provider }}, {{ $labels.commune }}) is DOWN",
            "Line {{ $labels.line }} has answered no ping for at least 2 minutes. Call the provider's hotline "
            "with the circuit id from the inventory.",
            UID_COMMUNE,
            "critical",
            line_labels,
        ),
        Rule(
            "netprobe-commune-isolated",
            "Commune isolated (every line down)",
            isolated_communes(WINDOW.format(ago="5m")),
            300,
            "last",
            ("within_range", [2.5, 4.5]),
            "2m",
            "Commune {{ $labels.commune }} is cut off: every line is down",
            "No dedicated line of {{ $labels.commune }} answers. One finding for the whole commune: its LAN "
            "gear is unreachable, not broken.",
            UID_OVERVIEW,
            "critical",
            {"netprobe": "commune"},
        ),
        Rule(
            "netprobe-agent-silent",
            "Agent silent for 5 minutes",
            agent_silent_query(),
            86400,
            "last",
            ("lt", [0.5]),
            "0s",
            "netprobe agent {{ $labels.agent }} has reported nothing for 5 minutes",
            "No self-metric from agent {{ $labels.agent }}: it is stopped, stuck, or cannot reach the database. "
            "Its communes' verdicts are UNKNOWN until it is back (journalctl -u netprobe on that host).",
            UID_AGENTS,
            "critical",
            {"netprobe": "agent"},
        ),
        Rule(
            "netprobe-outbox-dropping",
            "Agent outbox dropping points",
            outbox_drops(WINDOW.format(ago="15m"), "1m"),
            900,
            "sum",
            ("gt", [0]),
            "0s",
            "netprobe agent {{ $labels.agent }} dropped {{ $values.B }} points in 15 minutes",
            "The agent's outbox hit its size/age bound and dropped points: data is being lost for good. "
            "Check the database is reachable and the outbox disk (netprobe outbox status).",
            UID_AGENTS,
            "critical",
            {"netprobe": "agent"},
        ),
    ]


def rule_json(rule: Rule) -> JSON:
    kind, params = rule.evaluator
    return {
        "uid": rule.uid,
        "title": rule.title,
        "condition": "C",
        "data": [
            {
                "refId": "A",
                "relativeTimeRange": {"from": rule.lookback_s, "to": 0},
                "datasourceUid": DATASOURCE_UID,
                "model": {
                    "refId": "A",
                    "query": " ".join(rule.query.split()),
                    "rawQuery": True,
                    "resultFormat": "time_series",
                    "intervalMs": 60000,
                    "maxDataPoints": 43200,
                },
            },
            {
                "refId": "B",
                "datasourceUid": "__expr__",
                "model": {
                    "refId": "B",
                    "type": "reduce",
                    "expression": "A",
                    "reducer": rule.reducer,
                    "settings": {"mode": "dropNN"},
                },
            },
            {
                "refId": "C",
                "datasourceUid": "__expr__",
                "model": {
                    "refId": "C",
                    "type": "threshold",
                    "expression": "B",
                    "conditions": [{"evaluator": {"type": kind, "params": params}}],
                },
            },
        ],
        "noDataState": "OK",  # no verdicts at all is the agent-silent rule's business, not every line's
        "execErrState": "Error",
        "for": rule.pending,
        "annotations": {
            "summary": rule.summary,
            "description": rule.description,
            "__dashboardUid__": rule.dashboard_uid,
        },
        "labels": {"severity": rule.severity, **rule.labels},
        "isPaused": False,
    }


def rules_file() -> JSON:
    lines = [r for r in rules() if r.labels.get("netprobe") in ("line", "commune")]
    agents = [r for r in rules() if r.labels.get("netprobe") == "agent"]
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": "netprobe-lines",
                "folder": FOLDER,
                "interval": "1m",
                "rules": [rule_json(r) for r in lines],
            },
            {
                "orgId": 1,
                "name": "netprobe-agents",
                "folder": FOLDER,
                "interval": "1m",
                "rules": [rule_json(r) for r in agents],
            },
        ],
    }


def contact_points_file() -> JSON:
    # $NAME values are expanded by Grafana from its environment when it provisions the file.
    return {
        "apiVersion": 1,
        "contactPoints": [
            {
                "orgId": 1,
                "name": "netprobe-noc",
                "receivers": [
                    {
                        "uid": "netprobe-noc-email",
                        "type": "email",
                        "disableResolveMessage": False,
                        "settings": {"addresses": "$NETPROBE_ALERT_EMAILS", "singleEmail": True},
                    }
                ],
            },
            {
                "orgId": 1,
                "name": "netprobe-provider-escalation",
                "receivers": [
                    {
                        "uid": "netprobe-provider-webhook",
                        "type": "webhook",
                        "disableResolveMessage": False,
                        "settings": {"url": "$NETPROBE_ALERT_WEBHOOK_URL", "httpMethod": "POST"},
                    }
                ],
            },
        ],
    }


def policies_file() -> JSON:
    """Example routing: everything to the NOC, grouped per province; line alerts also to the provider desk.

    Provisioning a policy tree REPLACES the organisation's whole tree: see docs/grafana.md before using it
    on a Grafana that already has one.
    """
    return {
        "apiVersion": 1,
        "policies": [
            {
                "orgId": 1,
                "receiver": "netprobe-noc",
                "group_by": ["grafana_folder", "alertname", "province"],
                "group_wait": "30s",
                "group_interval": "5m",
                "repeat_interval": "4h",
                "routes": [
                    {
                        "receiver": "netprobe-provider-escalation",
                        "object_matchers": [
                            ["netprobe", "=", "line"],
                            ["provider", "=~", ".+"],
                            ["severity", "=", "critical"],
                        ],
                        "group_by": ["alertname", "province", "provider"],
                        "continue": True,
                    },
                    {
                        "receiver": "netprobe-noc",
                        "object_matchers": [["netprobe", "=~", "line|commune|agent"]],
                        "group_by": ["alertname", "province", "commune"],
                    },
                ],
            }
        ],
    }
