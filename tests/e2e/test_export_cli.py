"""`servingops export` through the real CLI against the in-process emulator."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import httpx
import pytest

from servingops.cli import Settings, main
from servingops.model import OWNER_TAG

from .conftest import OWNER, Cli, call


def seed(
    cli: Cli, name: str, *, owned: bool = False, owner: str = "", **extra: Any
) -> dict[str, Any]:
    tags = [{"key": "team", "value": "ml"}]
    if owned or owner:
        tags.append({"key": OWNER_TAG, "value": owner or OWNER})
    body = {
        "name": name,
        "config": {
            "served_entities": [
                {
                    "name": "main",
                    "entity_name": f"main.ml.{name}",
                    "entity_version": "3",
                    "workload_size": "Small",
                    "scale_to_zero_enabled": True,
                }
            ]
        },
        "tags": tags,
        **extra,
    }
    return cli.emu.seed_endpoint(body)


def only_exports(cli: Cli) -> None:
    """Drop the fixture's declared endpoint so files hold only what export writes."""
    (cli.root / "endpoints" / "scorer.yaml").unlink()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ((), "name the endpoints to export"),
        (("a", "--all"), "give endpoint NAMES or --all, not both"),
    ],
)
def test_usage_errors(cli: Cli, argv: tuple[str, ...], message: str) -> None:
    code, out, err = cli("export", *argv)
    assert code == 64
    assert message in err
    assert out == ""


def test_export_all_writes_one_file_each_then_plan_only_adopts(cli: Cli) -> None:
    only_exports(cli)
    seed(cli, "alpha")
    created = seed(cli, "beta", owned=True, description="Beta endpoint")
    call(
        cli.emu,
        "set_permissions",
        created["id"],
        [{"group_name": "readers", "permission_level": "CAN_QUERY"}],
    )
    code, out, err = cli("export", "--all")
    assert code == 0, err
    assert out.splitlines() == [
        "wrote endpoints/alpha.yaml",
        "wrote endpoints/beta.yaml",
        "Exported 2 endpoints to endpoints/.",
    ]
    beta = (cli.root / "endpoints" / "beta.yaml").read_text()
    assert beta.startswith("# yaml-language-server: $schema=../schemas/endpoint.schema.json\n")
    assert "description: Beta endpoint\n" in beta
    assert "  - {group_name: readers, permission_level: CAN_QUERY}\n" in beta
    assert OWNER_TAG not in beta
    assert cli("validate")[0] == 0

    # alpha carries no ownership tag: adopting it adds the tag and nothing else
    code, out, _ = cli("plan", "--format", "json", "--detailed-exitcode")
    assert code == 2
    (change,) = json.loads(out)["resource_changes"]
    assert change["name"] == "alpha"
    assert [f["path"] for f in change["change"]["fields"]] == [f"tags.{OWNER_TAG}"]


def test_export_then_plan_is_empty_for_owned_endpoints(cli: Cli) -> None:
    only_exports(cli)
    seed(cli, "gamma", owned=True)
    assert cli("export", "gamma")[0] == 0
    code, out, _ = cli("plan", "--detailed-exitcode")
    assert code == 0, out


def test_existing_file_is_skipped_without_force(cli: Cli) -> None:
    only_exports(cli)
    seed(cli, "alpha")
    seed(cli, "beta")
    path = cli.root / "endpoints" / "alpha.yaml"
    path.write_text("# mine\n")
    code, out, err = cli("export", "alpha", "beta")
    assert code == 1
    assert out.splitlines() == [
        "wrote endpoints/beta.yaml",
        "Exported 1 endpoint to endpoints/ (1 skipped: file exists).",
    ]
    assert "skipped endpoints/alpha.yaml: file exists (use --force to overwrite)" in err
    assert path.read_text() == "# mine\n"

    code, out, _ = cli("export", "alpha", "--force")
    assert code == 0
    assert out.splitlines()[0] == "wrote endpoints/alpha.yaml"
    assert path.read_text().startswith("# yaml-language-server")


def test_endpoint_declared_in_another_file_is_not_duplicated(cli: Cli) -> None:
    seed(cli, "scorer")  # declared by the fixture's endpoints/scorer.yaml
    (cli.root / "endpoints" / "scorer.yaml").rename(cli.root / "endpoints" / "main.yaml")
    code, out, err = cli("export", "--all", "--force")
    assert code == 0
    assert "note: skipped scorer: already declared in endpoints/main.yaml" in err
    assert out.splitlines() == ["Exported 0 endpoints to endpoints/ (1 already declared)."]
    assert not (cli.root / "endpoints" / "scorer.yaml").exists()


def test_missing_name_is_an_error_and_writes_nothing(cli: Cli) -> None:
    seed(cli, "alpha")
    code, out, err = cli("export", "alpha", "nope")
    assert code == 1
    assert "error: no endpoint named nope in the workspace" in err
    assert out == ""
    assert not (cli.root / "endpoints" / "alpha.yaml").exists()


def test_out_dir_and_schema_path(cli: Cli) -> None:
    seed(cli, "alpha")
    code, out, _ = cli("export", "alpha", "--out-dir", "adopted/team")
    assert code == 0
    text = (cli.root / "adopted" / "team" / "alpha.yaml").read_text()
    assert (
        text.splitlines()[0] == "# yaml-language-server: $schema=../../schemas/endpoint.schema.json"
    )
    assert "wrote adopted/team/alpha.yaml" in out


def test_empty_workspace(cli: Cli) -> None:
    code, out, _ = cli("export", "--all")
    assert code == 0
    assert out == "Exported 0 endpoints to endpoints/.\n"


def test_exported_files_plan_empty_when_files_are_the_only_source(cli: Cli) -> None:
    """A secret reference, a traffic split and notifications survive the trip unchanged."""
    only_exports(cli)
    body = {
        "name": "split",
        "config": {
            "served_entities": [
                {"name": "a", "entity_name": "main.m.x", "entity_version": "1",
                 "workload_size": "Small",
                 "environment_vars": {"TOKEN": "{{secrets/scope/key}}"}},
                {"name": "b", "entity_name": "main.m.x", "entity_version": "2",
                 "workload_size": "Medium", "scale_to_zero_enabled": True},
            ],
            "traffic_config": {"routes": [
                {"served_entity_name": "a", "traffic_percentage": 75},
                {"served_entity_name": "b", "traffic_percentage": 25},
            ]},
        },
        "email_notifications": {"on_update_failure": ["oncall@example.com"]},
        "tags": [{"key": OWNER_TAG, "value": OWNER}],
    }  # fmt: skip
    cli.emu.seed_endpoint(body)
    assert cli("export", "--all")[0] == 0
    text = (cli.root / "endpoints" / "split.yaml").read_text()
    assert "TOKEN: '{{secrets/scope/key}}'" in text
    assert cli("plan", "--detailed-exitcode")[0] == 0


# --- issue 9, item 6: export of odd but valid workspaces ---------------------------------------


def test_endpoint_without_config_exports_as_a_valid_file(cli: Cli) -> None:
    """An endpoint can be created with no config at all (`{"name": "x"}`), databricks/cli
    acceptance/bundle/resources/model_serving_endpoints/basic (a cloud test) and
    terraform-provider-databricks PRs #4446/#4603 (reading an endpoint with no config)."""
    only_exports(cli)
    cli.emu.seed_endpoint({"name": "bare", "tags": [{"key": "team", "value": "ml"}]})
    code, out, err = cli("export", "bare")
    assert code == 0, err
    assert out.splitlines()[0] == "wrote endpoints/bare.yaml"
    text = (cli.root / "endpoints" / "bare.yaml").read_text()
    assert "config" not in text
    assert "name: bare\n" in text
    assert cli("validate")[0] == 0
    code, out, err = cli("plan", "--format", "json", "--detailed-exitcode")
    assert code == 2, err
    (change,) = json.loads(out)["resource_changes"]
    assert [f["path"] for f in change["change"]["fields"]] == [f"tags.{OWNER_TAG}"]


def test_export_all_includes_endpoints_without_config(cli: Cli) -> None:
    only_exports(cli)
    cli.emu.seed_endpoint({"name": "bare", "tags": [{"key": OWNER_TAG, "value": OWNER}]})
    seed(cli, "alpha", owned=True)
    code, out, err = cli("export", "--all")
    assert code == 0, err
    assert "wrote endpoints/bare.yaml" in out.splitlines()
    assert cli("plan", "--detailed-exitcode")[0] == 0


def test_export_all_skips_endpoints_owned_by_another_project(cli: Cli) -> None:
    only_exports(cli)
    seed(cli, "mine", owned=True)
    seed(cli, "free")
    seed(cli, "theirs", owner="search/ranking")
    code, out, err = cli("export", "--all")
    assert code == 0, err
    assert out.splitlines() == [
        "wrote endpoints/free.yaml",
        "wrote endpoints/mine.yaml",
        "Exported 2 endpoints to endpoints/ (1 owned by another project).",
    ]
    assert (
        'note: skipped theirs: owned by another servingops project (owner "search/ranking")' in err
    )
    assert not (cli.root / "endpoints" / "theirs.yaml").exists()
    assert cli("plan")[0] == 0


def test_named_endpoint_owned_by_another_project_is_an_error(cli: Cli) -> None:
    only_exports(cli)
    seed(cli, "free")
    seed(cli, "theirs", owner="other")
    code, out, err = cli("export", "free", "theirs")
    assert code == 1
    assert out == ""
    assert 'error: theirs: owned by another servingops project (owner "other")' in err
    assert not list((cli.root / "endpoints").iterdir())


def test_rerunning_export_all_in_an_adopted_repository_skips_declared_endpoints(cli: Cli) -> None:
    """docs/export.md: endpoints already declared in the project's files are skipped (exit 0)."""
    only_exports(cli)
    seed(cli, "alpha")
    seed(cli, "beta")
    assert cli("export", "--all")[0] == 0
    before = (cli.root / "endpoints" / "alpha.yaml").read_text()
    seed(cli, "gamma")
    code, out, err = cli("export", "--all")
    assert code == 0, err
    assert out.splitlines() == [
        "wrote endpoints/gamma.yaml",
        "Exported 1 endpoint to endpoints/ (2 already declared).",
    ]
    assert "note: skipped alpha: already declared in endpoints/alpha.yaml" in err
    assert "note: skipped beta: already declared in endpoints/beta.yaml" in err
    assert "file exists" not in err
    assert (cli.root / "endpoints" / "alpha.yaml").read_text() == before


def test_force_refreshes_an_endpoints_own_file(cli: Cli) -> None:
    only_exports(cli)
    seed(cli, "alpha")
    assert cli("export", "alpha")[0] == 0
    path = cli.root / "endpoints" / "alpha.yaml"
    path.write_text(path.read_text().replace("entity_version: '3'", "entity_version: '9'"))
    code, out, _ = cli("export", "alpha", "--force")
    assert code == 0
    assert out.splitlines()[0] == "wrote endpoints/alpha.yaml"
    assert "entity_version: '3'" in path.read_text()


def test_no_permissions_omits_the_permissions_block(cli: Cli) -> None:
    only_exports(cli)
    created = seed(cli, "alpha", owned=True)
    call(
        cli.emu,
        "set_permissions",
        created["id"],
        [{"group_name": "readers", "permission_level": "CAN_QUERY"}],
    )
    code, _, err = cli("export", "alpha", "--no-permissions")
    assert code == 0, err
    text = (cli.root / "endpoints" / "alpha.yaml").read_text()
    assert "permissions" not in text
    assert "readers" not in text
    assert cli("plan", "--detailed-exitcode")[0] == 0


def test_tag_filters_must_all_match(cli: Cli) -> None:
    only_exports(cli)
    for name, tags in [
        ("a", {"team": "risk", "env": "prod"}),
        ("b", {"team": "risk", "env": "dev"}),
        ("c", {"team": "search", "env": "prod"}),
        ("d", {}),
    ]:
        cli.emu.seed_endpoint(
            {"name": name, "tags": [{"key": k, "value": v} for k, v in tags.items()]}
        )
    code, out, err = cli("export", "--all", "--tag", "team=risk")
    assert code == 0, err
    assert out.splitlines()[:-1] == ["wrote endpoints/a.yaml", "wrote endpoints/b.yaml"]
    code, out, err = cli("export", "--all", "--tag", "team=risk", "--tag", "env=prod", "--force")
    assert code == 0, err
    assert out.splitlines()[:-1] == ["wrote endpoints/a.yaml"]


def test_name_glob_selects_endpoints(cli: Cli) -> None:
    only_exports(cli)
    for name in ("fraud-a", "fraud-b", "chat", "fraudster"):
        seed(cli, name)
    code, out, err = cli("export", "fraud-*")
    assert code == 0, err
    assert out.splitlines() == [
        "wrote endpoints/fraud-a.yaml",
        "wrote endpoints/fraud-b.yaml",
        "Exported 2 endpoints to endpoints/.",
    ]
    code, out, err = cli("export", "fraud-?", "chat", "--tag", "team=ml", "--force")
    assert code == 0, err
    assert [line.split()[-1] for line in out.splitlines()[:-1]] == [
        "endpoints/chat.yaml",
        "endpoints/fraud-a.yaml",
        "endpoints/fraud-b.yaml",
    ]


def test_glob_skips_what_cannot_be_exported_like_all(cli: Cli) -> None:
    only_exports(cli)
    seed(cli, "fraud-a")
    seed(cli, "fraud-b", owner="other")
    code, out, err = cli("export", "fraud-*")
    assert code == 0, err
    assert out.splitlines()[0] == "wrote endpoints/fraud-a.yaml"
    assert 'note: skipped fraud-b: owned by another servingops project (owner "other")' in err


def test_glob_that_matches_nothing_is_an_error(cli: Cli) -> None:
    only_exports(cli)
    seed(cli, "chat")
    code, out, err = cli("export", "fraud-*")
    assert code == 1
    assert out == ""
    assert "error: no endpoint matches fraud-* in the workspace" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--all", "--tag", "team"), "'--tag': expected KEY=VALUE, got 'team'"),
        (("--all", "--tag", "=x"), "'--tag': expected KEY=VALUE, got '=x'"),
        (("--tag", "team=ml"), "--tag narrows a selection"),
        (("--all", "--tag", "a=1", "--tag", "a=2"), "tag 'a' is given twice"),
    ],
)
def test_filter_usage_errors(cli: Cli, argv: tuple[str, ...], message: str) -> None:
    code, out, err = cli("export", *argv)
    assert code == 64
    assert message in err
    assert out == ""


# --- issue 9, item 11: names the server returns are never trusted as paths --------------------


class RenamingServer(httpx.AsyncBaseTransport):
    """The emulator behind a proxy that renames endpoints in its answers, as a broken or hostile
    server might (the emulator itself refuses such names at create). `in_list` renames are
    consistent (the list and the GET say the new name, and the new name reaches the endpoint);
    `in_get` renames only the GET answer."""

    PREFIX = "/api/2.0/serving-endpoints/"

    def __init__(
        self,
        app: Any,
        *,
        in_list: dict[str, str],
        in_get: dict[str, str],
        tamper: Callable[[dict[str, Any]], None] = lambda _: None,
    ) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.tamper = tamper
        self.in_list = in_list
        self.in_get = {**in_list, **in_get}
        self.reverse = {new: old for old, new in in_list.items()}
        self.requested: list[str] = []
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raw = request.url.raw_path.decode().partition("?")[0]
        self.paths.append(raw)
        if raw.startswith(self.PREFIX):
            segment, slash, rest = raw.removeprefix(self.PREFIX).partition("/")
            name = unquote(segment)
            self.requested.append(name)
            if name in self.reverse:
                path = self.PREFIX + quote(self.reverse[name], safe="") + slash + rest
                request = httpx.Request(
                    request.method,
                    request.url.copy_with(raw_path=path.encode()),
                    headers=request.headers,
                    content=request.content,
                )
        response = await self.inner.handle_async_request(request)
        await response.aread()
        if request.method != "GET" or response.status_code != 200:
            return response
        data = response.json()
        if raw == self.PREFIX.rstrip("/"):
            for entry in data.get("endpoints", []):
                entry["name"] = self.in_list.get(entry["name"], entry["name"])
        elif isinstance(data, dict) and "served_entities" not in data:
            self.tamper(data)
            data["name"] = self.in_get.get(data.get("name", ""), data.get("name"))
        headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
        return httpx.Response(response.status_code, headers=headers, json=data)


def written_files(cli: Cli) -> list[str]:
    project_file = cli.root / "servingops.yaml"
    return sorted(
        p.relative_to(cli.root).as_posix()
        for p in cli.root.rglob("*")
        if p != project_file
        if p.is_file()
    )


EVIL_NAMES = {
    "up-two": "../../x",
    "nul": "a\x00b",
    "too-long": "n" * 64,
    "spaced": "has space",
    "newline": "ok\nwrote endpoints/fake.yaml",
    "empty": "",
    "slash": "team/scorer",
}


def test_names_that_are_not_endpoint_names_are_refused_never_written(cli: Cli) -> None:
    only_exports(cli)
    for name in (*EVIL_NAMES, "fine", "swapped"):
        seed(cli, name)
    server = RenamingServer(cli.emu.app, in_list=EVIL_NAMES, in_get={"swapped": "../../y"})
    settings = Settings(
        cwd=cli.root, env={}, home=cli.root, transport=server, color=False, interactive=False
    )
    out_dir = cli.root / "deep" / "er"
    code = main(["export", "--all", "--out-dir", str(out_dir)], settings=settings)
    out, err = cli.capsys.readouterr()
    assert code == 0, err
    assert "Traceback" not in out + err
    assert out.splitlines() == [
        "wrote deep/er/fine.yaml",
        "Exported 1 endpoint to deep/er/ (8 skipped: invalid name).",
    ]
    assert [p.name for p in out_dir.iterdir()] == ["fine.yaml"]
    assert not (cli.root / "x.yaml").exists()
    assert not (cli.root / "y.yaml").exists()
    assert written_files(cli) == ["deep/er/fine.yaml"]
    notes = [line for line in err.splitlines() if "not a valid endpoint name" in line]
    assert len(notes) == 8, err
    for line in notes:
        assert line.startswith("note: skipped ")
        assert "\x00" not in line
    assert "note: skipped '../../x': not a valid endpoint name" in err
    assert "note: skipped 'a\\x00b': not a valid endpoint name" in err
    # a refused listed name is never used in a request either
    assert not set(server.requested) & set(EVIL_NAMES.values())


def test_a_named_endpoint_with_an_invalid_name_is_an_error(cli: Cli) -> None:
    only_exports(cli)
    seed(cli, "swapped")
    server = RenamingServer(cli.emu.app, in_list={}, in_get={"swapped": "../../y"})
    settings = Settings(
        cwd=cli.root, env={}, home=cli.root, transport=server, color=False, interactive=False
    )
    code = main(["export", "swapped"], settings=settings)
    out, err = cli.capsys.readouterr()
    assert code == 1
    assert "wrote" not in out
    assert "error: '../../y': not a valid endpoint name" in err
    assert written_files(cli) == []


def test_a_literal_secret_from_the_server_is_never_written(cli: Cli) -> None:
    """The API returns secret fields as references only; a server that answers a literal one
    must not make export put it in git."""
    only_exports(cli)
    seed(cli, "plain")
    body = {
        "name": "chat",
        "config": {"served_entities": [{"external_model": {
            "provider": "openai", "name": "gpt-4o", "task": "llm/v1/chat",
            "openai_config": {"openai_api_key": "{{secrets/llm/openai}}"},
        }}]},
    }  # fmt: skip
    cli.emu.seed_endpoint(body)

    def leak(data: dict[str, Any]) -> None:
        for block in ("config", "pending_config"):
            for entity in (data.get(block) or {}).get("served_entities", []):
                if "external_model" in entity:
                    entity["external_model"]["openai_config"]["openai_api_key"] = "sk-live-123"

    server = RenamingServer(cli.emu.app, in_list={}, in_get={}, tamper=leak)
    settings = Settings(
        cwd=cli.root, env={}, home=cli.root, transport=server, color=False, interactive=False
    )
    code = main(["export", "--all"], settings=settings)
    out, err = cli.capsys.readouterr()
    assert code == 0, err
    assert "sk-live-123" not in out + err
    assert written_files(cli) == ["endpoints/plain.yaml"]
    assert (
        "note: skipped chat: config.served_entities[0].external_model.openai_config."
        "openai_api_key holds a literal value, not a {{secrets/<scope>/<key>}} reference; "
        "not written, since the file would put a secret in git"
    ) in err
    assert out.splitlines()[-1] == "Exported 1 endpoint to endpoints/ (1 skipped: literal secret)."
    code = main(["export", "chat"], settings=settings)
    out, err = cli.capsys.readouterr()
    assert code == 1
    assert "error: chat: config.served_entities[0]" in err


def test_force_does_not_overwrite_a_file_declaring_other_endpoints(cli: Cli) -> None:
    only_exports(cli)
    seed(cli, "alpha")
    path = cli.root / "endpoints" / "alpha.yaml"
    path.write_text("name: alpha\n---\nname: beta\n")
    code, _, err = cli("export", "alpha", "--force")
    assert code == 0
    assert "note: skipped alpha: already declared in endpoints/alpha.yaml" in err
    assert path.read_text() == "name: alpha\n---\nname: beta\n"


def test_a_link_at_the_output_path_is_never_written_through(cli: Cli, tmp_path: Path) -> None:
    only_exports(cli)
    seed(cli, "alpha")
    target = tmp_path.parent / f"{tmp_path.name}-elsewhere.yaml"
    link = cli.root / "endpoints" / "alpha.yaml"
    link.symlink_to(target)  # dangling: exists() is false, but writing would create `target`
    code, _, err = cli("export", "alpha")
    assert code == 1
    assert "skipped endpoints/alpha.yaml: file exists (use --force to overwrite)" in err
    assert not target.exists()
    assert cli("export", "alpha", "--force")[0] == 0
    assert not target.exists()
    assert not link.is_symlink()
    assert link.read_text().startswith("# yaml-language-server")


def test_a_named_endpoint_whose_tags_do_not_match_is_skipped_with_a_note(cli: Cli) -> None:
    only_exports(cli)
    seed(cli, "alpha")
    seed(cli, "beta")
    code, out, err = cli("export", "alpha", "beta", "--tag", "team=risk")
    assert code == 0
    assert "note: skipped alpha: its tags do not match --tag team=risk" in err
    assert out == "Exported 0 endpoints to endpoints/.\n"


def test_no_permissions_reads_no_acl_and_no_caller(cli: Cli) -> None:
    only_exports(cli)
    seed(cli, "alpha")
    server = RenamingServer(cli.emu.app, in_list={}, in_get={})
    settings = Settings(
        cwd=cli.root, env={}, home=cli.root, transport=server, color=False, interactive=False
    )
    assert main(["export", "alpha", "--no-permissions"], settings=settings) == 0
    assert server.paths == [
        "/api/2.0/serving-endpoints",
        "/api/2.0/serving-endpoints/alpha",
        "/api/2.1/unity-catalog/models/main.ml.alpha",  # which aliases point at its version
    ]
    assert main(["export", "alpha", "--force"], settings=settings) == 0
    assert any(p.startswith("/api/2.0/permissions/") for p in server.paths)


def test_a_get_that_answers_another_valid_name_is_not_written(cli: Cli) -> None:
    only_exports(cli)
    seed(cli, "alpha")
    seed(cli, "beta")
    server = RenamingServer(cli.emu.app, in_list={}, in_get={"alpha": "beta"})
    settings = Settings(
        cwd=cli.root, env={}, home=cli.root, transport=server, color=False, interactive=False
    )
    assert main(["export", "--all"], settings=settings) == 0
    err = cli.capsys.readouterr().err
    assert "note: skipped alpha: reading it answered another endpoint, beta; not written" in err
    assert written_files(cli) == ["endpoints/beta.yaml"]
