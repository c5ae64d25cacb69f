"""A local emulation of the Databricks Model Serving REST API (a Starlette app over SQLite).

It imports nothing from `servingops`. Public surface::

    from serving_emulator import Emulator, EmulatorConfig, ManualClock, SystemClock

    emu = Emulator(EmulatorConfig(update_seconds=30.0), db_path=":memory:",
                   clock=ManualClock(1_766_000_000.0))
    transport = httpx.ASGITransport(app=emu.app)       # in-process, e.g. base_url http://emu.local
    emu.clock.advance(31)                              # or emu.advance(31); ManualClock only
    emu.seed_endpoint({"name": "x", "config": {...}})  # out-of-band create, READY at once
    emu.set_entity_fault("x/champion", error_rate=0.5)  # a misbehaving entity (clear_entity_fault)
    with serve_in_thread(emu) as base_url: ...         # real HTTP on a free loopback port
    emu.close()

Command line: `python -m serving_emulator --port 8765 --db state.db ...` (or
`servingops emulator serve`), see `--help`.

Routes: the serving-endpoints control plane under /api/2.0 (list, get, create, delete, PUT
config, config:stop/config:start, PATCH tags, PUT rate-limits, PUT ai-gateway, PATCH
notifications, PATCH telemetry-config, PATCH system-metrics-export-state, build-logs, logs,
openapi, metrics), the permissions API by endpoint id (GET, PUT replace, PATCH merge,
permissionLevels), SCIM /Me, OAuth M2M (/.well-known/databricks-config,
/oidc/.well-known/oauth-authorization-server, POST /oidc/v1/token), the data plane
(POST /serving-endpoints/{name}/invocations and .../served-models/{entity}/invocations; the
scoring formats, chat, completions, embeddings, server-sent event streams, AI-gateway rate
limits) and the emulator-only fault control (GET /_emulator/entity-faults, PUT and DELETE
/_emulator/entity-faults/{target}). README.md ("The emulator") documents them all.

Behaviour choices where the real API is not documented:

- Default served-entity names: external models use `external_model.name` with '.' and ':'
  replaced by '-'; other entities use `<model>-<version>` where a Unity Catalog name contributes
  only its last component (`main.risk.fraud` v7 -> `fraud-7`).
- During the first rollout `config` is absent and only `pending_config` (v1) is shown. A failed
  rollout keeps the previous `config` and leaves `pending_config` in place with the failing
  entity in DEPLOYMENT_FAILED and its message; the next PUT config replaces it.
- An endpoint without config is NOT_READY / NOT_UPDATING. Only custom-model endpoints that are
  not route-optimized can be stopped (400 INVALID_PARAMETER_VALUE otherwise, INVALID_STATE when
  already stopped). A stopped endpoint is NOT_READY, its entities DEPLOYMENT_ABORTED, and it
  answers queries with 400 INVALID_STATE; config:start rolls the active config out again as a
  new version.
- `endpoint_type` is EXTERNAL_MODEL, FOUNDATION_MODEL_API (entities `system.ai.*`) or
  CUSTOM_MODEL. The workspace holds at most `max_endpoints` (1,000) endpoints: 400
  QUOTA_EXCEEDED beyond.
- Metrics cover the last complete minute of the clock, per served entity; queries refused before
  reaching an entity (rate limit, stopped endpoint) are not counted.
- A rate-limited query is 429 REQUEST_LIMIT_EXCEEDED without Retry-After; windows renew on the
  clock's minute; `tokens` limits and group limits without a principal are not enforced
  (precedence: see `ratelimits`).
- Request bodies nested deeper than 64 levels are 400 MALFORMED_REQUEST; any unexpected failure
  is a JSON 500 INTERNAL_ERROR (the traceback goes to the server log, never to the client).
- `served_models` mirrors only custom-model entities (external models have no legacy form).
- Keyed lists come back in a seeded shuffled order that is stable for a given endpoint state.
- Faults are drawn before a request is processed, so a faulted write changed nothing.

Users file (YAML, or JSON when the name ends in .json)::

    users:
      - user_name: alice@example.com
        display_name: Alice          # optional, defaults to user_name
        groups: [admins]             # `admins` members may do anything
        tokens: [alice-token]        # bearer tokens that act as this user
      - user_name: bob@example.com
        groups: [data-science]
        tokens: [bob-token]
    service_principals:
      - application_id: 6f1c2f0e-0000-4000-8000-000000000001
        display_name: ci-deployer
        client_secret: ci-secret     # enables OAuth M2M; the client id is the application id
        client_id: ci-client         # optional override of the OAuth client id
        tokens: [ci-token]
        groups: [deployers]
    groups: [risk-analysts]          # optional: groups that exist but have no listed members

Every principal is also in the `users` group. Unknown or duplicate keys, wrong types and reused
tokens are `UsersFileError`s naming `file:line`, never quoting the file. Without a users file
every non-empty bearer token
and every OAuth client id/secret act as `EmulatorConfig.admin_user` (default
local-admin@example.com, a member of `admins`), so a quick start needs no setup.
"""

from __future__ import annotations

from .clock import Clock, ManualClock, SystemClock
from .config import EmulatorConfig, EntityFault
from .emulator import Emulator
from .principals import UsersFileError
from .server import serve_in_thread

__all__ = [
    "Clock",
    "Emulator",
    "EmulatorConfig",
    "EntityFault",
    "ManualClock",
    "SystemClock",
    "UsersFileError",
    "serve_in_thread",
]
