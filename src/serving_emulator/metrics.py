"""`GET .../metrics`: an endpoint's health metrics in the Prometheus text exposition format.
Pure: it renders the queries the store recorded.

Faithful to what the real export is known to publish (the metric names of the Databricks
metrics-export docs and Datadog's integration, databricks/metadata.csv in
DataDog/integrations-core, and observed scrapes quoted in public repositories):

- `request_count_total`, `request_4xx_count_total`, `request_5xx_count_total`: gauges, despite
  the suffix, holding the count for the last minute;
- `request_latency_ms`: a histogram of that minute's round-trip latencies;
- `cpu_usage_percentage`, `mem_usage_percentage`, `provisioned_concurrent_requests_total`:
  gauges (custom and foundation models only; the emulator's values are nominal);
- every sample carries the millisecond timestamp of its minute.

The emulator's choices where the real export is not documented: the minute is the last
complete minute of the emulator's clock ([T-60 s, T) where T is the start of the current
minute, and T is the samples' timestamp), so repeated scrapes within a minute agree and a
reader windows by advancing the clock; each sample is labelled `served_entity_name`; a query
refused before it reached a served entity (authentication, AI-gateway rate limit, stopped
endpoint) is not counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

WINDOW_MS = 60_000
LATENCY_BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)


@dataclass
class EntityMinute:
    """One served entity's queries during the window, and what it runs on."""

    name: str
    statuses: list[int] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    provisioned_concurrency: int | None = None  # None: no compute metrics (external models)


def window_end(now_ms: int) -> int:
    """The end (exclusive) of the last complete minute at `now_ms`."""
    return now_ms // WINDOW_MS * WINDOW_MS


def render(entities: Sequence[EntityMinute], *, window_end_ms: int) -> str:
    ts = window_end_ms
    lines: list[str] = []

    def family(name: str, kind: str, help_text: str) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")

    def sample(name: str, entity: str, value: float, extra: str = "") -> None:
        labels = f'served_entity_name="{_escape(entity)}"{extra}'
        lines.append(f"{name}{{{labels}}} {_number(value)} {ts}")

    counters = (
        ("request_count_total", "Number of requests during the last minute.", None),
        ("request_4xx_count_total", "Number of 4xx errors during the last minute.", 4),
        ("request_5xx_count_total", "Number of 5xx errors during the last minute.", 5),
    )
    for name, help_text, hundreds in counters:
        family(name, "gauge", help_text)
        for e in entities:
            count = sum(1 for s in e.statuses if hundreds is None or s // 100 == hundreds)
            sample(name, e.name, count)
    family("request_latency_ms", "histogram", "Round-trip latency of requests, in milliseconds.")
    for e in entities:
        for bound in LATENCY_BUCKETS_MS:
            below = sum(1 for lat in e.latencies_ms if lat <= bound)
            sample("request_latency_ms_bucket", e.name, below, f',le="{bound}"')
        sample("request_latency_ms_bucket", e.name, len(e.latencies_ms), ',le="+Inf"')
        sample("request_latency_ms_sum", e.name, sum(e.latencies_ms))
        sample("request_latency_ms_count", e.name, len(e.latencies_ms))
    computed = [e for e in entities if e.provisioned_concurrency is not None]
    if computed:
        family("cpu_usage_percentage", "gauge", "Average CPU utilization across replicas.")
        for e in computed:
            sample("cpu_usage_percentage", e.name, _cpu(e))
        family("mem_usage_percentage", "gauge", "Average memory utilization across replicas.")
        for e in computed:
            sample("mem_usage_percentage", e.name, _mem(e))
        family(
            "provisioned_concurrent_requests_total",
            "gauge",
            "Provisioned concurrency during the last minute.",
        )
        for e in computed:
            sample("provisioned_concurrent_requests_total", e.name, _concurrency(e))
    return "\n".join(lines) + "\n"


def _concurrency(e: EntityMinute) -> int:
    return e.provisioned_concurrency or 0


def _cpu(e: EntityMinute) -> float:
    # Nominal: idle replicas tick over, busy ones work in proportion to their traffic.
    if not _concurrency(e):
        return 0.0
    return round(min(100.0, 2.0 + 0.5 * len(e.statuses) / _concurrency(e)), 2)


def _mem(e: EntityMinute) -> float:
    return 0.0 if not _concurrency(e) else 12.5


def _number(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
