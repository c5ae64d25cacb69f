"""AI-gateway rate limits on queries: which counters a caller's query spends from, and the
counting window. Pure: the counts themselves live in the store.

The precedence is the documented one ("Configure rate limits", docs.databricks.com
.../ai-gateway/rate-limits-beta, and .../ai-gateway/configure-ai-gateway-endpoints):

- an `endpoint` limit (the default key) is a global maximum over all callers;
- a custom limit for the caller itself (`user` or `service_principal` with the caller as
  `principal`) takes priority over group limits and the default;
- otherwise the caller's groups' custom limits (`user_group` with a `principal`), each shared by
  all members; a caller in several limited groups is refused only when all of them are spent;
- otherwise the default per-caller limit (`user` without principal; for service principals a
  `service_principal` limit without principal replaces it).

`calls: 0` refuses every query. `tokens` limits, and a `user_group` limit without a principal
(the docs define group limits only for a named group), are accepted but not enforced. Windows
renew on the minute of the emulator's clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


def requirements(
    limits: Sequence[Mapping[str, Any]], caller: Principal
) -> list[tuple[Bucket, ...]]:
    """What a query by `caller` must satisfy: each tuple is one limit, met when any of its
    counters has room (several only for a caller in several limited groups)."""
    counted = [lim for lim in limits if lim.get("calls") is not None]
    out: list[tuple[Bucket, ...]] = [
        (Bucket("endpoint", int(lim["calls"]), "endpoint"),)
        for lim in counted
        if lim.get("key", "endpoint") == "endpoint"
    ]
    me = f"{caller.kind}:{caller.name}"
    label = caller.kind.replace("_", " ")
    own = [
        lim
        for lim in counted
        if lim.get("key") in ("user", "service_principal") and lim.get("principal") == caller.name
    ]
    if own:
        out.extend((Bucket(me, int(lim["calls"]), label),) for lim in own)
        return out
    groups = [
        Bucket(
            f"user_group:{lim['principal']}", int(lim["calls"]), f"user group '{lim['principal']}'"
        )
        for lim in counted
        if lim.get("key") == "user_group" and lim.get("principal") in caller.groups
    ]
    if groups:
        out.append(tuple(groups))
        return out
    defaults = [
        lim for lim in counted if lim.get("key") == caller.kind and not lim.get("principal")
    ] or [lim for lim in counted if lim.get("key") == "user" and not lim.get("principal")]
    out.extend((Bucket(me, int(lim["calls"]), label),) for lim in defaults)
    return out
