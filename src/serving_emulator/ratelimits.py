"""AI-gateway rate limits on queries: which limits apply to a caller, and the counting window.
Pure: the counts themselves live in the store.

A limit (`{key, principal?, calls | tokens, renewal_period: minute}`) counts queries per key:

- `endpoint` (the default key): every query to the endpoint, from anyone;
- `user` / `service_principal`: each caller of that kind separately; a limit naming the caller
  as its `principal` replaces the ones without a principal for that caller;
- `user_group`: all members of a group together; a limit with a `principal` applies to that
  group, one without to every group of the caller (each counted separately), unless the group
  has a limit of its own.

`calls: 0` refuses every query. Limits on `tokens` only are accepted but not enforced (the
emulator's answers do not consume a token budget). Windows renew on the minute of the
emulator's clock. Sources: databricks-sdk-py `AiGatewayRateLimit` (key, principal, calls, tokens,
renewal_period) and https://docs.databricks.com/en/ai-gateway/configure-ai-gateway-endpoints.html
("rate limits ... per user, user group, service principal, endpoint").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .principals import Principal

WINDOW_MS = 60_000


@dataclass(frozen=True)
class Bucket:
    """One counter a query spends from: its storage key, its limit and how to name it."""

    key: str
    calls: int
    label: str


def window(now_ms: int) -> int:
    """The renewal window (`renewal_period: minute`) that `now_ms` falls in."""
    return now_ms // WINDOW_MS


def buckets(limits: Sequence[Mapping[str, Any]], caller: Principal) -> list[Bucket]:
    """The counters a query by `caller` spends from, under the endpoint's AI-gateway limits."""
    counted = [lim for lim in limits if lim.get("calls") is not None]
    out: list[Bucket] = []
    for lim in counted:
        if lim.get("key", "endpoint") == "endpoint":
            out.append(Bucket("endpoint", int(lim["calls"]), "endpoint"))
    for kind in ("user", "service_principal"):
        if caller.kind != kind:
            continue
        mine = [lim for lim in counted if lim.get("key") == kind]
        named = [lim for lim in mine if lim.get("principal") == caller.name]
        chosen = named or [lim for lim in mine if not lim.get("principal")]
        label = kind.replace("_", " ")
        out.extend(Bucket(f"{kind}:{caller.name}", int(lim["calls"]), label) for lim in chosen)
    groups = [lim for lim in counted if lim.get("key") == "user_group"]
    named_groups = {str(lim["principal"]) for lim in groups if lim.get("principal")}
    for lim in groups:
        principal = lim.get("principal")
        targets: Iterable[str]
        if principal:
            targets = [principal] if principal in caller.groups else []
        else:
            targets = sorted(caller.groups - named_groups)
        out.extend(
            Bucket(f"user_group:{group}", int(lim["calls"]), f"user group '{group}'")
            for group in targets
        )
    return out
