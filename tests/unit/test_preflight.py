"""Pre-flight's pure part: what a file refers to, where, and what each answer means.

The answers (Facts) stand for what the workspace says; their shapes follow the REST reference:
model versions have `status` READY, PENDING_REGISTRATION or FAILED_REGISTRATION
(databricks-sdk-py service/catalog.py ModelVersionInfoStatus; GET
/api/2.1/unity-catalog/models/{full_name}/versions/{version}, docs.databricks.com/api/workspace/
modelversions/get), an alias answers the ModelVersionInfo it points at
(GET .../aliases/{alias}, docs.databricks.com/api/uc-registered-models/v1/
get-model-version-by-alias), and a secret scope lists key names only
(GET /api/2.0/secrets/list, which needs READ and throws RESOURCE_DOES_NOT_EXIST for a missing
scope: databricks-sdk-py service/workspace.py SecretsAPI.list_secrets).
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from servingops import desired, preflight
from servingops.model import AliasPin, DesiredDocument, Severity, SourceRef
from servingops.preflight import Fact, Kind, Lookup, Outcome
from servingops.project import Project

FILE = """\
name: fraud
config:
  served_entities:
    - name: champion
      entity_name: main.risk.fraud
      entity_version: "@champion"
      workload_size: Small
      environment_vars:
        OPENAI: "{{secrets/llm/openai-key}}"
        MODE: fast
    - name: challenger
      entity_name: Main.Risk.Fraud
      entity_version: "9"
      workload_size: Small
    - name: legacy
      entity_name: fraud_workspace_registry
      entity_version: "3"
      workload_size: Small
  traffic_config:
    routes:
      - {served_entity_name: champion, traffic_percentage: 80}
      - {served_entity_name: challenger, traffic_percentage: 10}
      - {served_entity_name: legacy, traffic_percentage: 10}
permissions:
  - {group_name: risk-analysts, permission_level: CAN_QUERY}
  - {group_name: users, permission_level: CAN_QUERY}
  - {user_name: ana@example.com, permission_level: CAN_VIEW}
  - {service_principal_name: 6f1c2a4e, permission_level: CAN_MANAGE}
"""

CHAT = """\
name: chat
config:
  served_entities:
    - name: gpt
      external_model:
        provider: openai
        name: gpt-4o
        task: llm/v1/chat
        openai_config: {openai_api_key: "{{secrets/llm/openai-key}}"}
"""


def load(tmp_path: Path, *texts: str) -> tuple[DesiredDocument, ...]:
    for i, text in enumerate(texts):
        (tmp_path / f"e{i}.yaml").write_text(textwrap.dedent(text))
    project = Project(
        path=None, root=tmp_path, endpoints=(tmp_path,), owner="o", default_target=None, targets={}
    )
    documents, diagnostics = desired.load_desired(project, None)
    assert not [d for d in diagnostics if d.is_error], diagnostics
    return documents


CHAMPION = Lookup(Kind.ALIAS, "main.risk.fraud", "champion")


def found(**kw: Any) -> Fact:
    return Fact(outcome=Outcome.FOUND, **kw)


# --------------------------------------------------------------------------------------------
# Aliases


def test_an_alias_is_valid_input_and_kept_as_written(tmp_path: Path) -> None:
    (doc,) = load(tmp_path, FILE)
    assert doc.body["config"]["served_entities"][0]["entity_version"] == "@champion"
    assert preflight.alias_lookups([doc, doc]) == [CHAMPION]


def test_resolving_an_alias_pins_its_version(tmp_path: Path) -> None:
    (doc,) = load(tmp_path, FILE)
    resolution = preflight.resolve_aliases([doc], {CHAMPION: found(version="8", status="READY")})
    assert resolution.problems == ()
    assert resolution.documents[0].body["config"]["served_entities"][0]["entity_version"] == "8"
    assert doc.body["config"]["served_entities"][0]["entity_version"] == "@champion"  # untouched
    assert resolution.pins == (
        AliasPin(
            endpoint="fraud",
            entity="champion",
            index=0,
            model="main.risk.fraud",
            alias="champion",
            version="8",
            current="8",
        ),
    )
    assert resolution.pins[0].display == "@champion (8)"
    assert not resolution.pins[0].moved


def test_a_saved_pin_wins_over_where_the_alias_points_now(tmp_path: Path) -> None:
    (doc,) = load(tmp_path, FILE)
    saved = AliasPin(
        endpoint="fraud",
        entity="champion",
        index=0,
        model="main.risk.fraud",
        alias="champion",
        version="8",
    )
    resolution = preflight.resolve_aliases([doc], {CHAMPION: found(version="9")}, pinned=[saved])
    assert resolution.documents[0].body["config"]["served_entities"][0]["entity_version"] == "8"
    (pin,) = resolution.pins
    assert (pin.version, pin.current, pin.moved) == ("8", "9", True)
    # A pin still applies when the alias can no longer be read; nothing is guessed.
    gone = preflight.resolve_aliases(
        [doc], {CHAMPION: Fact(outcome=Outcome.MISSING)}, pinned=[saved]
    )
    assert gone.problems == ()
    assert (gone.pins[0].version, gone.pins[0].current) == ("8", None)


@pytest.mark.parametrize(
    ("fact", "words"),
    [
        (
            Fact(outcome=Outcome.MISSING, message="Alias 'champion' does not exist."),
            "alias @champion of main.risk.fraud does not exist (the workspace says: Alias "
            "'champion' does not exist); set the alias on a READY version",
        ),
        (
            Fact(outcome=Outcome.DENIED),
            "alias @champion of main.risk.fraud cannot be resolved: this identity lacks EXECUTE "
            "on the model (or USE CATALOG / USE SCHEMA on its catalog and schema); grant it, or "
            "write the version number",
        ),
        (None, "could not be resolved: the workspace was not asked"),
    ],
)
def test_an_alias_that_does_not_resolve_is_a_located_error(
    tmp_path: Path, fact: Fact | None, words: str
) -> None:
    (doc,) = load(tmp_path, FILE)
    resolution = preflight.resolve_aliases([doc], {CHAMPION: fact} if fact else {})
    (problem,) = resolution.problems
    assert problem.severity is Severity.ERROR  # a plan cannot pick a version for the user
    assert words in problem.summary
    assert str(problem.source) == "e0.yaml:6:23"
    assert problem.pointer == "config.served_entities[0].entity_version"
    assert resolution.pins == ()
    assert resolution.documents[0].body["config"]["served_entities"][0]["entity_version"] == (
        "@champion"
    )


def test_an_unnamed_entity_pinned_by_a_saved_plan_gets_its_default_name() -> None:
    body = {
        "name": "x",
        "config": {"served_entities": [{"entity_name": "a.b.m", "entity_version": "@prod"}]},
    }
    doc = DesiredDocument(name="x", body=body, source=SourceRef(path="x.yaml"))
    lookup = Lookup(Kind.ALIAS, "a.b.m", "prod")
    (pin,) = preflight.resolve_aliases([doc], {lookup: found(version="4")}).pins
    assert pin.entity == "m-4"  # the server's name for it (normalize.default_entity_name)


# --------------------------------------------------------------------------------------------
# References


def test_references_name_what_a_file_refers_to_and_where(tmp_path: Path) -> None:
    fraud, chat = load(tmp_path, FILE, CHAT)
    (resolved,) = preflight.resolve_aliases([fraud], {CHAMPION: found(version="8")}).documents
    refs = {(r.lookup, r.key, str(r.source), r.path) for r in preflight.references(resolved)}
    assert refs == {
        (Lookup(Kind.VERSION, "main.risk.fraud", "8"), "", "e0.yaml:6:23",
         ("config", "served_entities", 0, "entity_version")),
        (Lookup(Kind.SCOPE, "llm"), "openai-key", "e0.yaml:9:17",
         ("config", "served_entities", 0, "environment_vars", "OPENAI")),
        # Unity Catalog names are not case sensitive: one lookup for both spellings.
        (Lookup(Kind.VERSION, "main.risk.fraud", "9"), "", "e0.yaml:13:23",
         ("config", "served_entities", 1, "entity_version")),
        (Lookup(Kind.GROUP, "risk-analysts"), "", "e0.yaml:25:18",
         ("permissions", 0, "group_name")),
        (Lookup(Kind.USER, "ana@example.com"), "", "e0.yaml:27:17",
         ("permissions", 2, "user_name")),
        (Lookup(Kind.SERVICE_PRINCIPAL, "6f1c2a4e"), "", "e0.yaml:28:30",
         ("permissions", 3, "service_principal_name")),
    }  # fmt: skip
    # Not looked up: the workspace model registry (two-part names), the built-in `users` group.
    (secret,) = preflight.references(chat)
    assert secret.lookup == Lookup(Kind.SCOPE, "llm")
    assert secret.path[-1] == "openai_api_key"


def test_secret_references_count_only_where_serving_resolves_them() -> None:
    # Environment variables and external-model credentials are resolved; a tag is plain text.
    body = {
        "config": {"served_entities": [{"environment_vars": {"A": "{{secrets/s/k}}"}}]},
        "tags": [{"key": "note", "value": "{{secrets/other/x}}"}],
    }
    doc = DesiredDocument(name="x", body=body, source=SourceRef(path="x.yaml"))
    assert [(r.lookup, r.key) for r in preflight.references(doc)] == [
        (Lookup(Kind.SCOPE, "s"), "k")
    ]


def test_an_unresolved_alias_is_not_checked_as_a_version(tmp_path: Path) -> None:
    (doc,) = load(tmp_path, FILE)
    kinds = [r.lookup.kind for r in preflight.references(doc)]
    assert kinds.count(Kind.VERSION) == 1  # only "9"; "@champion" is already an error


# --------------------------------------------------------------------------------------------
# Checks


def ref(lookup: Lookup, key: str = "") -> preflight.Reference:
    return preflight.Reference(
        endpoint="fraud",
        path=("config", "served_entities", 0, "entity_version"),
        source=SourceRef(path="e.yaml", line=6, column=23),
        lookup=lookup,
        key=key,
    )


V8 = Lookup(Kind.VERSION, "main.risk.fraud", "8")
LLM = Lookup(Kind.SCOPE, "llm")
GROUP = Lookup(Kind.GROUP, "risk-analyst")
SP = Lookup(Kind.SERVICE_PRINCIPAL, "ci")

JUDGEMENTS = [
    (V8, "", found(status="READY"), None, ""),
    (
        V8,
        "",
        Fact(
            outcome=Outcome.MISSING, message="Model version 8 of 'main.risk.fraud' does not exist."
        ),
        Severity.ERROR,
        "main.risk.fraud version 8 does not exist (the workspace says: Model version 8 of "
        "'main.risk.fraud' does not exist); serve an existing version, or register this one first",
    ),
    (
        V8,
        "",
        found(status="PENDING_REGISTRATION"),
        Severity.ERROR,
        "main.risk.fraud version 8 is PENDING_REGISTRATION, not READY (only READY versions can "
        "be served); wait until its registration finishes and try again",
    ),
    (
        V8,
        "",
        found(status="FAILED_REGISTRATION"),
        Severity.ERROR,
        "main.risk.fraud version 8 is FAILED_REGISTRATION, not READY (only READY versions can be "
        "served); its registration failed, so it can never be served; register the model again "
        "and serve the new version",
    ),
    (
        V8,
        "",
        Fact(outcome=Outcome.DENIED),
        Severity.WARNING,
        "cannot check main.risk.fraud version 8: this identity lacks EXECUTE on the model (or USE "
        "CATALOG / USE SCHEMA on its catalog and schema); the rollout will fail if it does not "
        "exist or is not READY",
    ),
    (LLM, "k", found(keys=frozenset({"k"})), None, ""),
    (
        LLM,
        "k",
        found(keys=frozenset({"other"})),
        Severity.ERROR,
        '{{secrets/llm/k}} names key "k", which secret scope "llm" does not hold; put it '
        "(databricks secrets put-secret llm k) or fix the reference",
    ),
    (
        LLM,
        "k",
        Fact(outcome=Outcome.MISSING),
        Severity.ERROR,
        '{{secrets/llm/k}} names secret scope "llm", which does not exist; create it (databricks '
        "secrets create-scope llm) and put the secret, or fix the reference",
    ),
    (
        LLM,
        "k",
        Fact(outcome=Outcome.DENIED),
        Severity.WARNING,
        'cannot check {{secrets/llm/k}}: this identity lacks READ on secret scope "llm"',
    ),
    (GROUP, "", found(), None, ""),
    (
        GROUP,
        "",
        Fact(outcome=Outcome.MISSING),
        Severity.ERROR,
        'group "risk-analyst" does not exist in this workspace; check the name',
    ),
    (
        SP,
        "",
        Fact(outcome=Outcome.MISSING),
        Severity.ERROR,
        'service principal "ci" does not exist in this workspace; check the application id '
        "(service_principal_name takes the application id, not the display name)",
    ),
    (
        GROUP,
        "",
        Fact(outcome=Outcome.DENIED),
        Severity.WARNING,
        'cannot check group "risk-analyst": this identity may not look up groups (SCIM); setting '
        "the permissions will fail if it does not exist",
    ),
]


@pytest.mark.parametrize(("lookup", "key", "fact", "severity", "words"), JUDGEMENTS)
def test_each_answer_is_judged(
    lookup: Lookup, key: str, fact: Fact, severity: Severity | None, words: str
) -> None:
    problems = preflight.check([ref(lookup, key)], {lookup: fact})
    if severity is None:
        assert problems == ()
        return
    (problem,) = problems
    assert problem.severity is severity
    assert problem.summary.startswith('endpoint "fraud": ')
    assert words in problem.summary
    assert str(problem.source) == "e.yaml:6:23"
    assert problem.pointer == "config.served_entities[0].entity_version"


def test_a_lookup_not_made_is_not_judged_and_repeats_are_reported_once() -> None:
    assert preflight.check([ref(V8)], {}) == ()
    missing = {GROUP: Fact(outcome=Outcome.MISSING)}
    assert len(preflight.check([ref(GROUP), ref(GROUP)], missing)) == 1


def test_a_secret_value_never_appears_in_a_message() -> None:
    value = "sk-live-1234{{secrets/llm/k}}"  # a literal with a reference inside
    doc = DesiredDocument(
        name="x",
        body={"config": {"served_entities": [{"environment_vars": {"A": value}}]}},
        source=SourceRef(path="x.yaml"),
    )
    (reference,) = preflight.references(doc)
    (problem,) = preflight.check([reference], {LLM: Fact(outcome=Outcome.MISSING)})
    assert "sk-live" not in problem.summary
