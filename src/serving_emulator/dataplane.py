"""The data plane and the day-2 reads of an endpoint: queries (routing by the traffic split or to
one served entity, AI-gateway rate limits, per-entity faults, recording for the metrics), the
metrics export, build and server logs, the OpenAPI document, and the run-time fault knob.

Each call is one transaction on the workspace's store; answer shapes come from `invocations`,
renderings from `metrics`, `logs` and `openapi`. HTTP plumbing lives in `app.py`.
"""

from __future__ import annotations

import math
import random
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import invocations, logs, metrics, openapi, ratelimits
from .clock import ManualClock
from .config import EntityFault
from .errors import ApiError, invalid, invalid_state, not_found, permission_denied
from .invocations import Answer
from .lifecycle import Doc
from .principals import Principal
from .service import CAN_QUERY, CAN_VIEW, Workspace
from .store import Txn

_WORKLOAD_CONCURRENCY = {"Small": 4, "Medium": 16, "Large": 64}


@dataclass(frozen=True)
class Invocation:
    """The outcome of one query: who answered, with what (or which error), after what delay."""

    served_model_name: str
    answer: Answer | None
    error: ApiError | None
    delay_s: float


class DataPlane:
    """Queries and day-2 reads over a `Workspace`; safe to call from many threads."""

    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace
        self.config = workspace.config
        self._routing = random.Random(self.config.routing_seed)
        self._routing_lock = threading.Lock()
        # On a ManualClock time only moves when a test says so: added latency is reported in
        # the metrics but never waited for.
        self._wall_sleep = not isinstance(workspace.clock, ManualClock)

    # -- queries -------------------------------------------------------------------------------

    def invoke(
        self,
        caller: Principal,
        name: str,
        entity_name: str | None,
        body: Mapping[str, Any],
    ) -> Invocation:
        ws = self._ws
        now = ws.now_ms()
        with ws.store.transaction(write=True) as tx:
            doc = ws.load(tx, name, now)
            ws.require(tx, caller, doc, CAN_QUERY)
            if doc.get("stopped"):
                raise invalid_state(f"Endpoint {name} is stopped; start it to serve requests.")
            active = doc.get("config")
            if not active:
                raise invalid_state(f"Endpoint {name} is not ready: it has no active config.")
            entity = self._route(doc, active, entity_name)
            limits = (doc.get("ai_gateway") or {}).get("rate_limits") or []
            if limits:
                self._spend_rate_limits(tx, doc, limits, caller, now)
            served = entity["name"]
            seen = tx.invocation_count(doc["id"], served)
            tx.count_invocation(doc["id"], served)
            fault = self._fault_for(tx, name, entity)
            latency = self.config.latency_ms + fault.latency_ms
            answer: Answer | None = None
            error: ApiError | None = None
            if _fails(seen, fault.error_rate):
                what = invocations.model_name(entity)
                error = ApiError(
                    500,
                    "INTERNAL_ERROR",
                    f"Injected fault: served entity '{served}' ({what}) failed to answer.",
                )
            else:
                try:
                    answer = invocations.answer(
                        entity, body, now_s=now // 1000, request_id=secrets.token_hex(12)
                    )
                except ApiError as e:
                    error = e
            status = error.status if error is not None else 200
            tx.record_query(doc["id"], served, now, status, latency)
        delay = fault.latency_ms / 1000 if self._wall_sleep else 0.0
        return Invocation(served, answer, error, delay)

    def _route(self, doc: Doc, active: Doc, entity_name: str | None) -> Doc:
        entities: dict[str, Doc] = {e["name"]: e for e in active["served_entities"]}
        if entity_name is not None:
            if entity_name not in entities:
                raise not_found(
                    f"Served entity '{entity_name}' does not exist in the serving config of "
                    f"endpoint {doc['name']}."
                )
            return entities[entity_name]
        routes = [r for r in active["traffic_config"]["routes"] if r["traffic_percentage"]]
        with self._routing_lock:
            chosen = self._routing.choices(
                [r["served_entity_name"] for r in routes],
                weights=[r["traffic_percentage"] for r in routes],
            )[0]
        return entities[chosen]

    def _spend_rate_limits(
        self, tx: Txn, doc: Doc, limits: list[Doc], caller: Principal, now: int
    ) -> None:
        required = ratelimits.requirements(limits, caller)
        if not required:
            return
        window = ratelimits.window(now)
        counts = tx.rate_counts(doc["id"], window)
        spend: set[str] = set()
        for alternatives in required:
            open_ = [b for b in alternatives if counts.get(b.key, 0) < b.calls]
            if not open_:
                first = alternatives[0]
                # The code and message form of the service's 429s ("REQUEST_LIMIT_EXCEEDED:
                # Exceeded workspace rate limit for <model>"), for the AI-gateway limit hit.
                raise ApiError(
                    429,
                    "REQUEST_LIMIT_EXCEEDED",
                    f"REQUEST_LIMIT_EXCEEDED: Exceeded {first.label} rate limit for endpoint "
                    f"{doc['name']} ({first.calls} calls per minute).",
                )
            spend.update(b.key for b in open_)
        tx.count_rate(doc["id"], sorted(spend), window)

    # -- faults --------------------------------------------------------------------------------

    def _fault_for(self, tx: Txn, endpoint: str, entity: Doc) -> EntityFault:
        runtime = tx.entity_faults()
        for target in _targets(endpoint, entity):
            if target in runtime:
                rate, latency = runtime[target]
                return EntityFault(error_rate=rate, latency_ms=latency)
            if target in self.config.entity_faults:
                return self.config.entity_faults[target]
        return EntityFault()

    def entity_faults(self, caller: Principal) -> dict[str, Any]:
        """Every fault in force: start-up ones, then run-time ones replacing them."""
        self._require_admin(caller)
        with self._ws.store.transaction(write=False) as tx:
            runtime = tx.entity_faults()
        faults = {
            t: {"error_rate": f.error_rate, "latency_ms": f.latency_ms}
            for t, f in self.config.entity_faults.items()
        }
        faults.update({t: {"error_rate": r, "latency_ms": lat} for t, (r, lat) in runtime.items()})
        return {"entity_faults": [{"target": t, **faults[t]} for t in sorted(faults)]}

    def set_entity_fault(
        self, caller: Principal | None, target: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        if caller is not None:
            self._require_admin(caller)
        fault = _parse_fault(body)
        with self._ws.store.transaction(write=True) as tx:
            tx.set_entity_fault(target, fault.error_rate, fault.latency_ms)
        return {"target": target, "error_rate": fault.error_rate, "latency_ms": fault.latency_ms}

    def clear_entity_fault(self, caller: Principal | None, target: str) -> dict[str, Any]:
        if caller is not None:
            self._require_admin(caller)
        with self._ws.store.transaction(write=True) as tx:
            tx.clear_entity_fault(target)
        return {}

    @staticmethod
    def _require_admin(caller: Principal) -> None:
        if not caller.is_admin:
            raise permission_denied("Only workspace admins may change emulated faults.")

    # -- metrics, logs, schema -----------------------------------------------------------------

    def metrics(self, caller: Principal, name: str) -> str:
        ws = self._ws
        now = ws.now_ms()
        end = metrics.window_end(now)
        with ws.store.transaction(write=False) as tx:
            doc = ws.load(tx, name, now)
            ws.require(tx, caller, doc, CAN_VIEW)
            answered = tx.queries(doc["id"], end - metrics.WINDOW_MS, end)
        config = doc.get("config") or {}
        minutes: dict[str, metrics.EntityMinute] = {}
        for e in config.get("served_entities", []):
            minutes[e["name"]] = metrics.EntityMinute(
                e["name"], provisioned_concurrency=_concurrency(e, bool(doc.get("stopped")))
            )
        for entity, _ts, status, latency in answered:
            minute = minutes.setdefault(entity, metrics.EntityMinute(entity))
            minute.statuses.append(status)
            minute.latencies_ms.append(latency)
        for minute in minutes.values():
            if minute.provisioned_concurrency == 0 and minute.statuses:
                minute.provisioned_concurrency = 4  # scaled up from zero to answer them
        ordered = [minutes[k] for k in sorted(minutes)]
        return metrics.render(ordered, window_end_ms=end)

    def _served_entity(self, doc: Doc, served: str) -> tuple[str, Doc]:
        for block in ("pending", "config"):
            for entity in (doc.get(block) or {}).get("served_entities", []):
                if entity["name"] == served:
                    return block, entity
        raise not_found(f"Served model '{served}' does not exist in endpoint {doc['name']}.")

    def build_logs(self, caller: Principal, name: str, served: str) -> dict[str, Any]:
        doc, now = self._ws.read_endpoint(caller, name)
        block, entity = self._served_entity(doc, served)
        if block == "pending":
            pending = doc["pending"]
            start, ready, failure = pending["start_ms"], pending["ready_ms"], pending["failure"]
        else:
            start, ready = _rollout_ms(doc)
            failure = None
        text = logs.build_logs(entity, start_ms=start, ready_ms=ready, now_ms=now, failure=failure)
        return {"logs": text}

    def server_logs(self, caller: Principal, name: str, served: str) -> dict[str, Any]:
        ws = self._ws
        now = ws.now_ms()
        with ws.store.transaction(write=False) as tx:
            doc = ws.load(tx, name, now)
            ws.require(tx, caller, doc, CAN_VIEW)
            requests = [
                (ts, status, latency)
                for entity, ts, status, latency in tx.queries(doc["id"], 0, now + 1)
                if entity == served
            ]
        block, entity = self._served_entity(doc, served)
        if block == "pending" and not any(
            e["name"] == served for e in (doc.get("config") or {}).get("served_entities", [])
        ):
            return {"logs": ""}  # not serving yet: no server has started
        text = logs.server_logs(
            entity,
            started_ms=_rollout_ms(doc)[1],
            requests=requests,
            stopped_ms=doc["updated_ms"] if doc.get("stopped") else None,
        )
        return {"logs": text}

    def openapi(self, caller: Principal, name: str, base_url: str) -> str:
        doc, _now = self._ws.read_endpoint(caller, name, CAN_QUERY)
        config = doc.get("config") or doc.get("pending") or {}
        return openapi.document(
            name,
            config.get("served_entities", []),
            config_version=int(config.get("config_version", 0)),
            base_url=base_url,
        )


def _targets(endpoint: str, entity: Mapping[str, Any]) -> list[str]:
    targets = [f"{endpoint}/{entity['name']}"]
    if "entity_name" in entity:
        model, version = entity["entity_name"], entity["entity_version"]
        targets += [f"{model}@{version}", f"{model.rsplit('.', 1)[-1]}@{version}"]
    return targets


def _fails(seen: int, rate: float) -> bool:
    """Whether query number `seen + 1` fails, spreading failures exactly at `rate`."""
    if rate <= 0:
        return False
    # The tolerance keeps rates like 0.29 from losing a failure to binary rounding.
    return math.floor((seen + 1) * rate + 1e-9) > math.floor(seen * rate + 1e-9)


def _concurrency(entity: Mapping[str, Any], stopped: bool) -> int | None:
    if "external_model" in entity:
        return None
    if stopped:
        return 0
    high = entity.get("max_provisioned_concurrency")
    if high is not None:
        return int(high)
    if entity.get("scale_to_zero_enabled"):
        return 0
    return _WORKLOAD_CONCURRENCY.get(str(entity.get("workload_size")), 4)


def _rollout_ms(doc: Doc) -> tuple[int, int]:
    """When the rollout that made the active config serve started and ended."""
    config = doc["config"]
    rollout = config.get("rollout_ms")
    if rollout:
        return int(rollout[0]), int(rollout[1])
    created = max(e["creation_ms"] for e in config["served_entities"])
    return created, created


def _parse_fault(body: Mapping[str, Any]) -> EntityFault:
    unknown = sorted(set(body) - {"error_rate", "latency_ms"})
    if unknown:
        raise invalid(f"Unknown fault fields {unknown}; expected error_rate and latency_ms.")
    values: dict[str, float] = {}
    for key in ("error_rate", "latency_ms"):
        raw = body.get(key, 0.0)
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise invalid(f"{key} must be a number.")
        values[key] = float(raw)
    try:
        return EntityFault(**values)
    except ValueError as e:
        raise invalid(f"{e}.") from None
