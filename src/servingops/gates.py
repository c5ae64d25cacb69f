"""Gates of a rollout step: read one served entity's minute from the metrics export, fold the
minutes a run observed into a window, and judge the window against the gates. Pure.

The export (`GET /api/2.0/serving-endpoints/{name}/metrics`, Prometheus text; Databricks docs
"Track and export serving endpoint health metrics", metrics-export-serving-endpoint) publishes
per served entity the counts of the last complete minute (`request_count_total`,
`request_4xx_count_total`, `request_5xx_count_total`, gauges despite the suffix) and that
minute's latency histogram (`request_latency_ms`), each sample stamped with the minute. It
holds no history, so a window is made of the minutes someone scraped while the step was live.

Aggregation over a window of several minutes: requests and errors are summed; the error rate
is the 5xx share of all requests. The serving UI's "request error rate" counts 4xx too, but a
4xx is the caller's (bad input, a rate limit): it is shown, not gated, as Flagger's builtin
request-success-rate counts "non 5xx responses" (https://fluxcd.io/flagger/usage/metrics). The
latency histograms are added bucket by bucket and the 99th percentile read from the sum the way
Prometheus' histogram_quantile does (https://prometheus.io/docs/prometheus/latest/querying/
functions/#histogram_quantile: linear within the bucket that holds the rank; the upper bound of
the highest finite bucket when the rank falls in +Inf).
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from .model import Gates

MINUTE_MS = 60_000
_SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)\{([^}]*)\}\s+(\S+)(?:\s+(-?\d+))?\s*$")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')
_COUNTS = {
    "request_count_total": "requests",
    "request_4xx_count_total": "errors_4xx",
    "request_5xx_count_total": "errors_5xx",
}


@dataclass(frozen=True, slots=True)
class Minute:
    """One served entity's traffic during one metrics minute, which ends at `end_ms`.

    `buckets` are the latency histogram's (upper bound in ms, cumulative count) pairs in
    ascending order, the last one +Inf.
    """

    end_ms: int
    requests: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    buckets: tuple[tuple[float, int], ...] = ()


def parse_export(text: str, *, entity: str, fallback_end_ms: int) -> Minute | None:
    """`entity`'s minute in a metrics export, or None when the export holds no sample at all.

    A minute with samples for other entities only is a minute in which `entity` had no
    traffic. Samples without a timestamp are taken to be the minute before `fallback_end_ms`.
    """
    counts = {"requests": 0.0, "errors_4xx": 0.0, "errors_5xx": 0.0}
    buckets: dict[float, float] = {}
    stamps: list[int] = []
    for line in text.splitlines():
        match = _SAMPLE.match(line.strip())
        if match is None:
            continue
        name, labels_text, value_text, stamp = match.groups()
        try:
            value = float(value_text)
        except ValueError:
            continue
        stamps.append(int(stamp) if stamp is not None else fallback_end_ms)
        labels = dict(_LABEL.findall(labels_text))
        if labels.get("served_entity_name") != entity:
            continue
        if name in _COUNTS:
            counts[_COUNTS[name]] += value
        elif name == "request_latency_ms_bucket" and "le" in labels:
            bound = math.inf if labels["le"] in ("+Inf", "Inf") else _float(labels["le"])
            if bound is not None:
                buckets[bound] = buckets.get(bound, 0.0) + value
    if not stamps:
        return None
    return Minute(
        end_ms=max(stamps),
        requests=int(counts["requests"]),
        errors_4xx=int(counts["errors_4xx"]),
        errors_5xx=int(counts["errors_5xx"]),
        buckets=tuple(sorted((b, int(c)) for b, c in buckets.items())),
    )


@dataclass(frozen=True, slots=True)
class Window:
    """The minutes observed while a step was live. A minute that began before `since_ms` (when
    the step went live) mixed the old split with the new one and is not counted; a minute seen
    twice (two scrapes within it) counts once."""

    since_ms: int
    minutes: tuple[Minute, ...] = ()

    def add(self, minute: Minute | None) -> Window:
        if minute is None or minute.end_ms - MINUTE_MS < self.since_ms:
            return self
        if any(m.end_ms == minute.end_ms for m in self.minutes):
            return self
        ordered = tuple(sorted((*self.minutes, minute), key=lambda m: m.end_ms))
        return Window(since_ms=self.since_ms, minutes=ordered)

    @property
    def requests(self) -> int:
        return sum(m.requests for m in self.minutes)

    @property
    def errors_5xx(self) -> int:
        return sum(m.errors_5xx for m in self.minutes)

    @property
    def errors_4xx(self) -> int:
        return sum(m.errors_4xx for m in self.minutes)

    @property
    def error_rate(self) -> float | None:
        """The 5xx share of requests; None without requests."""
        return self.errors_5xx / self.requests if self.requests else None

    def quantile_ms(self, q: float) -> float | None:
        """The q-quantile of latency over the window (histogram_quantile); None when empty."""
        return histogram_quantile(q, _sum_buckets(m.buckets for m in self.minutes))


def histogram_quantile(q: float, buckets: tuple[tuple[float, int], ...]) -> float | None:
    """Prometheus' estimate of the q-quantile from cumulative (upper bound, count) buckets."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    lower, below = 0.0, 0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower  # the highest finite bound: the histogram cannot say more
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def _sum_buckets(
    histograms: Iterable[tuple[tuple[float, int], ...]],
) -> tuple[tuple[float, int], ...]:
    totals: dict[float, int] = {}
    for histogram in histograms:
        for bound, count in histogram:
            totals[bound] = totals.get(bound, 0) + count
    return tuple(sorted(totals.items()))


# --------------------------------------------------------------------------------------------
# Judging


class Verdict(enum.StrEnum):
    OBSERVING = "observing"  # nothing decided yet: the pause runs on
    PASS = "pass"
    FAIL = "fail"
    TOO_LITTLE = "too_little"  # too few requests to judge, and no more time to wait for them


class Check(enum.StrEnum):
    """What a failed judgment was about (the first word of its figures in the state tag)."""

    ERROR_RATE = "err"
    P99 = "p99"
    TOO_LITTLE = "few"
    DEPLOY = "deploy"  # the step's config update itself failed to deploy


@dataclass(frozen=True, slots=True, kw_only=True)
class Breach:
    """One failed check with its figures: `value` against `limit`, over `minutes` minutes and
    `requests` requests (for DEPLOY, `detail` holds the deployment message)."""

    check: Check
    value: float = 0.0
    limit: float = 0.0
    minutes: int = 0
    requests: int = 0
    detail: str = ""

    def describe(self) -> str:
        over = f"over {_minutes(self.minutes)}, {self.requests} requests"
        match self.check:
            case Check.ERROR_RATE:
                return f"error rate {_rate(self.value)} > {_rate(self.limit)} {over}"
            case Check.P99:
                return f"p99 latency {self.value:.0f}ms > {_ms(self.limit)} {over}"
            case Check.TOO_LITTLE:
                return (
                    f"too little traffic to judge: {self.requests} requests over "
                    f"{_minutes(self.minutes)}, min_requests {int(self.limit)}"
                )
            case Check.DEPLOY:
                return "the step's config update failed to deploy" + (
                    f" ({self.detail})" if self.detail else ""
                )


@dataclass(frozen=True, slots=True, kw_only=True)
class Judgment:
    """A gate evaluation: the verdict, the window's figures, and what failed."""

    verdict: Verdict
    minutes: int
    requests: int
    errors_5xx: int
    errors_4xx: int
    error_rate: float | None
    p99_ms: float | None
    breaches: tuple[Breach, ...] = ()

    def describe(self, gates: Gates) -> str:
        """`512 requests over 3 minutes: error rate 0.002 <= 0.01, p99 12ms <= 800ms`."""
        if self.breaches:
            return "; ".join(b.describe() for b in self.breaches)
        parts = [f"{self.requests} requests over {_minutes(self.minutes)}"]
        checks = []
        # Below min_requests nothing is judged yet: figures with their limits, no verdict.
        judged = self.requests >= gates.min_requests
        if gates.max_error_rate is not None and self.error_rate is not None:
            rate, limit = _rate(self.error_rate), _rate(gates.max_error_rate)
            checks.append(f"error rate {rate} <= {limit}" if judged else f"error rate {rate}")
        if gates.max_p99_ms is not None and self.p99_ms is not None:
            p99, limit = f"{self.p99_ms:.0f}ms", _ms(gates.max_p99_ms)
            checks.append(f"p99 latency {p99} <= {limit}" if judged else f"p99 latency {p99}")
        if not judged:
            checks.append(f"waiting for min_requests {gates.min_requests}")
        elif not self.requests:
            checks.append("no traffic: nothing to judge (min_requests is 0)")
        return parts[0] + (": " + ", ".join(checks) if checks else "")


def judge(window: Window, gates: Gates, *, due: bool, deadline: bool) -> Judgment:
    """Judge `window`: fail as soon as it holds `min_requests` and breaks a threshold (fail
    fast); pass only once the pause is over (`due`); with too few requests, keep observing
    until `deadline`, then TOO_LITTLE."""
    requests, minutes = window.requests, len(window.minutes)
    rate = window.error_rate
    p99 = window.quantile_ms(0.99)
    breaches: list[Breach] = []

    def breach(check: Check, value: float, limit: float) -> None:
        breaches.append(
            Breach(check=check, value=value, limit=limit, minutes=minutes, requests=requests)
        )

    if requests < gates.min_requests:
        if deadline:
            breach(Check.TOO_LITTLE, requests, gates.min_requests)
        verdict = Verdict.TOO_LITTLE if deadline else Verdict.OBSERVING
    else:
        if gates.max_error_rate is not None and rate is not None and rate > gates.max_error_rate:
            breach(Check.ERROR_RATE, rate, gates.max_error_rate)
        if gates.max_p99_ms is not None and p99 is not None and p99 > gates.max_p99_ms:
            breach(Check.P99, p99, gates.max_p99_ms)
        verdict = Verdict.FAIL if breaches else Verdict.PASS if due else Verdict.OBSERVING
    return Judgment(
        verdict=verdict,
        minutes=minutes,
        requests=requests,
        errors_5xx=window.errors_5xx,
        errors_4xx=window.errors_4xx,
        error_rate=rate,
        p99_ms=p99,
        breaches=tuple(breaches),
    )


def needs_metrics(gates: Gates) -> bool:
    """Whether judging reads the metrics export at all (a rollout without gates only pauses)."""
    return (
        gates.max_error_rate is not None or gates.max_p99_ms is not None or bool(gates.min_requests)
    )


# --------------------------------------------------------------------------------------------
# Figures in words, and in the state tag


def encode_breach(breach: Breach) -> str:
    """`err:0.034:0.01:3:512`: the figures of a failure, in the characters tags allow."""
    if breach.check is Check.DEPLOY:
        return Check.DEPLOY.value
    return ":".join(
        [
            breach.check.value,
            _compact(breach.value),
            _compact(breach.limit),
            str(breach.minutes),
            str(breach.requests),
        ]
    )


def decode_breach(text: str) -> Breach | None:
    parts = text.split(":")
    try:
        check = Check(parts[0])
    except ValueError:
        return None
    if check is Check.DEPLOY:
        return Breach(check=check)
    if len(parts) != 5:
        return None
    try:
        return Breach(
            check=check,
            value=float(parts[1]),
            limit=float(parts[2]),
            minutes=int(parts[3]),
            requests=int(parts[4]),
        )
    except ValueError:
        return None


def _compact(value: float) -> str:
    return f"{value:.6g}"


def _rate(value: float) -> str:
    return f"{value:.3g}"


def _ms(value: float) -> str:
    return f"{value:g}ms"


def _minutes(n: int) -> str:
    return "1 minute" if n == 1 else f"{n} minutes"


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
