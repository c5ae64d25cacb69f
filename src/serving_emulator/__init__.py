"""A local emulation of the Databricks Model Serving REST API (a Starlette app over SQLite).

It imports nothing from `servingops`. Public surface::

    from serving_emulator import Emulator, EmulatorConfig, ManualClock, SystemClock

    emu = Emulator(EmulatorConfig(update_seconds=30.0), db_path=":memory:",
                   clock=ManualClock(1_766_000_000.0))
    transport = httpx.ASGITransport(app=emu.app)       # in-process, e.g. base_url http://emu.local
    emu.clock.advance(31)                              # or emu.advance(31); ManualClock only
    emu.seed_endpoint({"name": "x", "config": {...}})  # out-of-band create, READY at once
    emu.seed_objects({"models": {"main.risk.fraud": {"versions": {"7": "READY"}}}})
    emu.set_entity_fault("x/champion", error_rate=0.5)  # a misbehaving entity (clear_entity_fault)
    with serve_in_thread(emu) as base_url: ...         # real HTTP on a free loopback port
    emu.close()

Command line: `python -m serving_emulator --port 8765 --db state.db ...` (or
`servingops emulator serve`), see `--help`.

Routes: the serving-endpoints control plane under /api/2.0 (list, get, create, delete, PUT
config, config:stop/config:start, PATCH tags, PUT rate-limits, PUT ai-gateway, PATCH
notifications, PATCH telemetry-config, PATCH system-metrics-export-state, build-logs, logs,
openapi, metrics), the permissions API by endpoint id (GET, PUT replace, PATCH merge,
permissionLevels), SCIM /Me, OAuth M2M and token exchange (/.well-known/databricks-config,
/oidc/.well-known/oauth-authorization-server, POST /oidc/v1/token), the data plane
(POST /serving-endpoints/{name}/invocations and .../served-models/{entity}/invocations; the
scoring formats, chat, completions, embeddings, server-sent event streams, AI-gateway rate
limits) and the emulator-only fault control (GET /_emulator/entity-faults, PUT and DELETE
/_emulator/entity-faults/{target}). README.md ("The emulator") documents them all.

The workspace objects a serving config refers to (routes in objects_app.py):

- Unity Catalog under /api/2.1/unity-catalog/models: GET (list; catalog_name, schema_name,
  max_results, page_token) and POST (create); GET and DELETE /{full_name} (include_aliases);
  GET /{full_name}/versions (paged) and /{full_name}/versions/{version}; GET, PUT
  ({"version_num": N}) and DELETE /{full_name}/aliases/{alias}. Missing objects are 404
  NOT_FOUND "Routine or Model '<name>' does not exist." (and the like for versions and aliases).
- Secrets under /api/2.0/secrets: POST scopes/create, scopes/delete, put, delete; GET
  scopes/list, list?scope= (key names and last_updated_timestamp, never values) and
  get?scope=&key= (the base64 value, for a caller holding READ on the scope).
- SCIM under /api/2.0/preview/scim/v2: GET Users, Groups, ServicePrincipals (filter, startIndex,
  count, attributes, excludedAttributes, sortBy, sortOrder) and each by id; POST Groups and
  DELETE Groups/{id} (admins). Errors use the SCIM error shape.

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

Objects file (`--objects FILE`, `EmulatorConfig.objects`, or the same data to `seed_objects`)::

    models:                        # Unity Catalog: version -> status, alias -> version
      main.risk.fraud:
        versions: {"7": READY, "8": READY, "9": PENDING_REGISTRATION}  # or FAILED_REGISTRATION
        aliases: {champion: "7"}
        owner: ml@example.com      # optional (default: the admin user); may move aliases
        execute: [risk-analysts]   # optional: who holds EXECUTE (reads); absent: everyone
    secrets:                       # scope -> key names (no values)
      llm: [openai-key]
      search: {keys: [hf-token], read: [search-services]}  # long form: who holds READ
    groups: [risk-analysts]
    users: [ana@example.com]
    service_principals: [{application_id: 6f1c2a4e-8b7d-4c3a-9e5f-0a1b2c3d4e5f, display_name: ci}]

Each kind the file lists is authoritative: a model, version, alias, group, user or service
principal not in it (and not created through the API) does not exist. A kind it does not list is
permissive: any model exists with every version READY and every alias on version 1, and a SCIM
lookup by name (`userName eq`, `displayName eq`, `applicationId eq`) finds whom it names. A users
file makes every principal kind authoritative (its identities are listed too). Secret scopes
exist only once declared or created: a key can only be found by listing its scope. Objects
created through the API hold what they hold authoritatively (a created model has no versions
until seeded). Objects live in the database, so instances sharing a file share them; seeding
merges. A bad file is one line naming file and line, at start-up.

A rollout (create with a config, PUT config, config:start) whose served entity names a Unity
Catalog model version (a catalog.schema.model name) that does not exist or is not READY ends in
UPDATE_FAILED, the entity DEPLOYMENT_FAILED with "Served entity '<name>' failed to deploy:
Model version 9 of main.risk.fraud does not exist." (or "... is in status
PENDING_REGISTRATION; only model versions in READY status can be served.").
"""

from __future__ import annotations

from .clock import Clock, ManualClock, SystemClock
from .config import EmulatorConfig, EntityFault
from .emulator import Emulator
from .objects import ObjectsFileError
from .principals import UsersFileError
from .server import serve_in_thread

__all__ = [
    "Clock",
    "Emulator",
    "EmulatorConfig",
    "EntityFault",
    "ManualClock",
    "ObjectsFileError",
    "SystemClock",
    "UsersFileError",
    "serve_in_thread",
]
