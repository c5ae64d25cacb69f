"""Build logs and server logs of a served entity (`{"logs": "<text>"}`). Pure text rendering.

Build logs follow the stages Databricks describes for a custom model's container image
(model artifacts, environment from the MLflow model's conda.yaml/requirements.txt, image build
and push; community.databricks.com "Serving Endpoint: Container image creation", accepted
answer by a Databricks employee), one timestamped line per stage, spread over the rollout so a
build in progress shows only the stages that have started. External models are proxied, so
they have no build. Server logs show the model server starting (MLflow's scoring server runs
under gunicorn/uvicorn) and one access line per recent request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

_BUILD_STAGES = (
    (0.0, "Build started for served entity '{entity}' ({source})."),
    (0.05, "Downloading model artifacts from models:/{model}/{version}."),
    (0.2, "Resolving the model environment from MLmodel, conda.yaml and requirements.txt."),
    (0.35, "Installing Python 3.11 and the model's pip requirements."),
    (0.6, "Building the container image for {model} version {version}."),
    (0.85, "Pushing the container image to the serving registry."),
)
_LATEST_REQUESTS = 50


def stamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def build_logs(
    entity: Mapping[str, Any],
    *,
    start_ms: int,
    ready_ms: int,
    now_ms: int,
    failure: Mapping[str, str] | None,
) -> str:
    """The build log of `entity` for a rollout that ran (or runs) from start_ms to ready_ms."""
    name = entity["name"]
    if "external_model" in entity:
        model = entity["external_model"]
        return (
            f"{stamp(start_ms)} Served entity '{name}' is the external model "
            f"{model['name']} ({model['provider']}); requests are proxied, there is no "
            "container build.\n"
        )
    model, version = entity["entity_name"], entity["entity_version"]
    fields = {
        "entity": name,
        "source": f"{model} version {version}",
        "model": model,
        "version": version,
    }
    span = max(0, ready_ms - start_ms)
    lines = [
        f"{stamp(start_ms + round(span * at))} {text.format(**fields)}"
        for at, text in _BUILD_STAGES
        if start_ms + span * at <= now_ms
    ]
    if now_ms < ready_ms:
        return "\n".join(lines) + "\n"
    if failure is None:
        lines.append(f"{stamp(ready_ms)} Container image built; build succeeded.")
    elif failure["entity"] == name:
        lines.append(f"{stamp(ready_ms)} ERROR: {failure['message']}")
    else:
        lines.append(
            f"{stamp(ready_ms)} Build cancelled: served entity '{failure['entity']}' of the "
            "same update failed."
        )
    return "\n".join(lines) + "\n"


def server_logs(
    entity: Mapping[str, Any],
    *,
    started_ms: int,
    requests: Sequence[tuple[int, int, float]],
    stopped_ms: int | None,
) -> str:
    """Server log of a serving entity: start-up, then (ts_ms, status, latency_ms) requests."""
    name = entity["name"]
    at = stamp(started_ms)
    if "external_model" in entity:
        lines = [f"{at} [INFO] AI gateway route for '{name}' is ready."]
    else:
        lines = [
            f"{at} [INFO] Starting gunicorn 23.0.0",
            f"{at} [INFO] Listening at: http://0.0.0.0:8080",
            f"{at} [INFO] Using worker: uvicorn.workers.UvicornWorker",
            f"{at} [INFO] Booting worker with pid: 7",
            f"{at} [INFO] Model {entity['entity_name']} version {entity['entity_version']} "
            f"loaded; served entity '{name}' is ready.",
        ]
    for ts, status, latency in list(requests)[-_LATEST_REQUESTS:]:
        lines.append(f'{stamp(ts)} [INFO] "POST /invocations HTTP/1.1" {status} {latency:.0f}ms')
    if stopped_ms is not None:
        lines.append(f"{stamp(stopped_ms)} [INFO] Shutting down: the endpoint was stopped.")
    return "\n".join(lines) + "\n"
