"""Gates: one entity's minute out of the metrics export, the window of minutes, and judging.

The export's shape (gauges for the last complete minute, a latency histogram, per served
entity, each sample stamped) is the real one: Databricks docs, "Track and export serving
endpoint health metrics to Prometheus and Datadog"
(https://docs.databricks.com/aws/en/machine-learning/model-serving/metrics-export-serving-endpoint)
and tests/emulator/test_metrics.py. p99 follows Prometheus' histogram_quantile (linear
interpolation within the bucket holding the rank).
"""

from __future__ import annotations

import math

import pytest

from servingops.gates import (
    Check,
    Minute,
    Verdict,
    Window,
    histogram_quantile,
    judge,
    parse_export,
)
from servingops.model import Gates

END = 1_766_000_040_000  # a minute boundary (ms)


def export(end_ms: int, **entities: tuple[int, int, int, list[float]]) -> str:
    """A metrics export: per entity (requests, 4xx, 5xx, latencies)."""
    lines = ["# TYPE request_count_total gauge"]
    for name, (requests, e4, e5, _) in entities.items():
        label = f'served_entity_name="{name}"'
        lines += [
            f"request_count_total{{{label}}} {requests} {end_ms}",
            f"request_4xx_count_total{{{label}}} {e4} {end_ms}",
            f"request_5xx_count_total{{{label}}} {e5} {end_ms}",
        ]
    lines.append("# TYPE request_latency_ms histogram")
    for name, (*_, latencies) in entities.items():
        for bound in (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000):
            below = sum(1 for lat in latencies if lat <= bound)
            lines.append(
                f'request_latency_ms_bucket{{served_entity_name="{name}",le="{bound}"}} '
                f"{below} {end_ms}"
            )
        lines.append(
            f'request_latency_ms_bucket{{served_entity_name="{name}",le="+Inf"}} '
            f"{len(latencies)} {end_ms}"
        )
    return "\n".join(lines) + "\n"


def test_parse_reads_one_entity_and_ignores_the_others() -> None:
    text = export(END, champion=(90, 1, 2, [3.0] * 90), challenger=(10, 0, 1, [40.0] * 10))
    minute = parse_export(text, entity="challenger", fallback_end_ms=0)
    assert minute is not None
    assert (minute.end_ms, minute.requests, minute.errors_4xx, minute.errors_5xx) == (
        END,
        10,
        0,
        1,
    )
    assert minute.buckets[-1] == (math.inf, 10)
    assert dict(minute.buckets)[50.0] == 10
    assert dict(minute.buckets)[25.0] == 0


def test_an_entity_without_samples_had_no_traffic_that_minute() -> None:
    minute = parse_export(
        export(END, champion=(5, 0, 0, [1.0] * 5)), entity="new", fallback_end_ms=0
    )
    assert minute == Minute(end_ms=END)
    assert parse_export("", entity="new", fallback_end_ms=0) is None


def test_the_window_skips_minutes_before_the_step_and_counts_each_minute_once() -> None:
    since = END - 30_000  # the step went live in the middle of the minute ending at END
    window = Window(since_ms=since)
    for end in (END, END + 60_000, END + 60_000, END + 120_000):
        window = window.add(Minute(end_ms=end, requests=10, errors_5xx=1))
    assert [m.end_ms for m in window.minutes] == [END + 60_000, END + 120_000]
    assert (window.requests, window.errors_5xx, window.error_rate) == (20, 2, 0.1)


@pytest.mark.parametrize(
    ("buckets", "expected"),
    [
        (((5.0, 100), (10.0, 100), (math.inf, 100)), 4.95),
        (((100.0, 0), (1000.0, 0), (2500.0, 10), (math.inf, 10)), 2485.0),
        (((100.0, 98), (250.0, 100), (math.inf, 100)), 175.0),
        (((100.0, 50), (math.inf, 100)), 100.0),  # in +Inf: the highest finite bound
        ((), None),
        (((5.0, 0), (math.inf, 0)), None),
    ],
)
def test_p99_like_prometheus(
    buckets: tuple[tuple[float, int], ...], expected: float | None
) -> None:
    found = histogram_quantile(0.99, buckets)
    assert found == pytest.approx(expected) if expected is not None else found is None


def test_histograms_of_several_minutes_are_summed() -> None:
    fast = Minute(end_ms=END, requests=99, buckets=((5.0, 99), (1000.0, 99), (math.inf, 99)))
    slow = Minute(end_ms=END + 60_000, requests=1, buckets=((5.0, 0), (1000.0, 1), (math.inf, 1)))
    window = Window(since_ms=0).add(fast).add(slow)
    assert window.quantile_ms(0.99) == pytest.approx(5.0)
    assert window.quantile_ms(0.995) == pytest.approx(502.5)


GATES = Gates(max_error_rate=0.01, max_p99_ms=800, min_requests=200)


def window_of(requests: int, errors: int, latency_ms: float, minutes: int = 3) -> Window:
    window = Window(since_ms=0)
    for i in range(minutes):
        per = requests // minutes
        bound = 5.0 if latency_ms <= 5 else 2500.0
        window = window.add(
            Minute(
                end_ms=END + i * 60_000,
                requests=per,
                errors_5xx=errors // minutes,
                buckets=((bound, per), (math.inf, per)),
            )
        )
    return window


def test_a_breach_with_enough_requests_fails_at_once_even_before_the_pause_ends() -> None:
    judgment = judge(window_of(513, 18, 2), GATES, due=False, deadline=False)
    assert judgment.verdict is Verdict.FAIL
    (breach,) = judgment.breaches
    assert breach.check is Check.ERROR_RATE
    assert breach.describe() == "error rate 0.0351 > 0.01 over 3 minutes, 513 requests"


def test_latency_breach_figures() -> None:
    judgment = judge(window_of(300, 0, 2000), GATES, due=True, deadline=False)
    assert judgment.verdict is Verdict.FAIL
    assert judgment.describe(GATES) == "p99 latency 2475ms > 800ms over 3 minutes, 300 requests"


def test_a_healthy_window_passes_only_when_the_pause_is_over() -> None:
    assert (
        judge(window_of(300, 0, 2), GATES, due=False, deadline=False).verdict is Verdict.OBSERVING
    )
    passed = judge(window_of(300, 0, 2), GATES, due=True, deadline=False)
    assert passed.verdict is Verdict.PASS
    assert passed.describe(GATES) == (
        "300 requests over 3 minutes: error rate 0 <= 0.01, p99 latency 5ms <= 800ms"
    )


def test_too_little_traffic_keeps_observing_then_fails_at_the_deadline() -> None:
    thin = window_of(36, 0, 2, minutes=12)
    assert judge(thin, GATES, due=True, deadline=False).verdict is Verdict.OBSERVING
    judgment = judge(thin, GATES, due=True, deadline=True)
    assert judgment.verdict is Verdict.TOO_LITTLE
    assert judgment.describe(GATES) == (
        "too little traffic to judge: 36 requests over 12 minutes, min_requests 200"
    )


def test_no_traffic_passes_when_nothing_is_required() -> None:
    judgment = judge(Window(since_ms=0), Gates(max_error_rate=0.01), due=True, deadline=False)
    assert judgment.verdict is Verdict.PASS
    assert judgment.describe(Gates(max_error_rate=0.01)) == (
        "0 requests over 0 minutes: no traffic: nothing to judge (min_requests is 0)"
    )
