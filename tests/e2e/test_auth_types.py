"""Unified-auth types beyond PAT and OAuth M2M, end to end through `servingops plan`.

No transport is injected: the CLI resolves the workspace from the environment and talks HTTP to
an emulator served on loopback with a users file, so a request only succeeds with the token the
auth type really produced. databricks-sdk's Config supplies the headers; its outside parties
are loopback fakes (GitHub's ID-token service, the metadata service, a `databricks` CLI script).
The SDK reads some settings from the process environment itself (the OIDC token variable,
GitHub's variables, PATH), so each test sets them there too and passes that same environment
as Settings.env, as the console script does.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from serving_emulator import Emulator, EmulatorConfig, SystemClock, serve_in_thread
from servingops.cli import Settings, main
from tests.netsupport import json_server

from .conftest import write_endpoint

SP_APP_ID = "6f1c2f0e-0000-4000-8000-0000000000bb"
USERS = {
    "users": [
        {"user_name": "dev@example.com", "tokens": ["cli-token-7"]},
        {"user_name": "vm@example.com", "tokens": ["metadata-token-7"]},
    ],
    "service_principals": [{"application_id": SP_APP_ID, "display_name": "ci"}],
}


def jwt(**claims: Any) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    claims.setdefault("sub", "repo:acme/models:environment:prod")
    claims.setdefault("exp", int(time.time()) + 3600)
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


_FOREIGN = ("DATABRICKS_", "ARM_", "AZURE_", "GOOGLE_", "ACTIONS_ID_TOKEN_")


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for key in list(os.environ):
        upper = key.upper()
        if upper.startswith(_FOREIGN) or upper.endswith("_PROXY"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "missing.cfg"))
    users = tmp_path / "users.yaml"
    users.write_text(yaml.safe_dump(USERS))
    config = EmulatorConfig(update_seconds=0.3, users_file=users)
    with (
        Emulator(config, db_path=tmp_path / "ws.db", clock=SystemClock()) as emu,
        serve_in_thread(emu) as url,
    ):
        yield url


Plan = Callable[..., tuple[int, str, str]]


@pytest.fixture
def plan(tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> Plan:
    project = tmp_path / "project"
    (project / "endpoints").mkdir(parents=True)
    write_endpoint(project, "scorer")

    def run(**env: str) -> tuple[int, str, str]:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        settings = Settings(
            cwd=project, env=dict(os.environ), home=tmp_path, color=False, interactive=False
        )
        code = main(["plan"], settings=settings)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def assert_planned(result: tuple[int, str, str]) -> None:
    code, out, err = result
    assert code == 0, err
    assert "Plan: 1 to add, 0 to change, 0 to destroy." in out


def test_env_oidc_exchanges_the_token_in_the_environment(served: str, plan: Plan) -> None:
    assert_planned(
        plan(
            DATABRICKS_HOST=served,
            DATABRICKS_AUTH_TYPE="env-oidc",
            DATABRICKS_CLIENT_ID=SP_APP_ID,
            DATABRICKS_OIDC_TOKEN=jwt(),
        )
    )


def test_env_oidc_reads_the_variable_named_by_oidc_token_env(served: str, plan: Plan) -> None:
    assert_planned(
        plan(
            DATABRICKS_HOST=served,
            DATABRICKS_AUTH_TYPE="env-oidc",
            DATABRICKS_CLIENT_ID=SP_APP_ID,
            DATABRICKS_OIDC_TOKEN_ENV="CI_ID_TOKEN",
            CI_ID_TOKEN=jwt(),
        )
    )


def test_an_oidc_token_without_auth_type_is_detected(served: str, plan: Plan) -> None:
    # No token and no client secret: the SDK's own detection picks env-oidc, as the CLI does.
    assert_planned(
        plan(DATABRICKS_HOST=served, DATABRICKS_CLIENT_ID=SP_APP_ID, DATABRICKS_OIDC_TOKEN=jwt())
    )


def test_file_oidc_from_a_profile(served: str, plan: Plan, tmp_path: Path) -> None:
    token_file = tmp_path / "id-token"
    token_file.write_text(jwt() + "\n")
    config = tmp_path / "databrickscfg"
    config.write_text(
        f"[ci]\nhost = {served}\nauth_type = file-oidc\nclient_id = {SP_APP_ID}\n"
        f"oidc_token_filepath = {token_file}\n"
    )
    assert_planned(plan(DATABRICKS_CONFIG_FILE=str(config), DATABRICKS_CONFIG_PROFILE="ci"))


def test_github_oidc_asks_actions_for_a_token_then_exchanges_it(served: str, plan: Plan) -> None:
    def actions(path: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if headers.get("authorization") != "Bearer gh-request-token":
            return 401, {"message": "bad request token"}
        return 200, {"value": jwt(sub="repo:acme/models:ref:refs/heads/main")}

    with json_server(actions) as (url, seen):
        assert_planned(
            plan(
                DATABRICKS_HOST=served,
                DATABRICKS_AUTH_TYPE="github-oidc",
                DATABRICKS_CLIENT_ID=SP_APP_ID,
                ACTIONS_ID_TOKEN_REQUEST_URL=f"{url}/token?api-version=2.0",
                ACTIONS_ID_TOKEN_REQUEST_TOKEN="gh-request-token",
            )
        )
    path, _ = seen[0]
    assert path.startswith("/token?api-version=2.0&audience=")
    assert "/oidc/v1/token" in path  # the audience is the workspace's token endpoint


def test_databricks_cli_profile_runs_the_cli_for_a_token(
    served: str, plan: Plan, tmp_path: Path
) -> None:
    # What `databricks auth login` leaves behind: a profile with auth_type = databricks-cli
    # (issue 9, item 9: servingops used to say "set DATABRICKS_TOKEN").
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    cli = bin_dir / "databricks"
    cli.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = version ]; then echo \'{"Major":0,"Minor":250,"Patch":0}\'; exit 0; fi\n'
        'if [ "$1 $2" = "auth token" ]; then\n'
        '  echo \'{"access_token":"cli-token-7","token_type":"Bearer",'
        '"expiry":"2099-01-01T00:00:00Z"}\'; exit 0\n'
        "fi\n"
        "exit 2\n"
    )
    cli.chmod(0o755)
    config = tmp_path / "databrickscfg"
    config.write_text(f"[dev]\nhost = {served}\nauth_type = databricks-cli\n")
    assert_planned(
        plan(
            DATABRICKS_CONFIG_FILE=str(config),
            DATABRICKS_CONFIG_PROFILE="dev",
            PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        )
    )


def test_metadata_service_token(served: str, plan: Plan) -> None:
    def metadata(path: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        assert headers["x-databricks-host"] == served
        return 200, {
            "access_token": "metadata-token-7",
            "token_type": "Bearer",
            "expires_on": int(time.time()) + 3600,
        }

    with json_server(metadata) as (url, seen):
        assert_planned(
            plan(
                DATABRICKS_HOST=served,
                DATABRICKS_AUTH_TYPE="metadata-service",
                DATABRICKS_METADATA_SERVICE_URL=f"{url}/metadata",
            )
        )
    assert seen


@pytest.mark.parametrize(
    ("auth_type", "hint"),
    [("azure-client-secret", "ARM_CLIENT_SECRET"), ("google-credentials", "GOOGLE_CREDENTIALS"),
     ("env-oidc", "DATABRICKS_OIDC_TOKEN"), ("github-oidc", "id-token: write"),
     ("azure-msi", "managed identity")],
)  # fmt: skip
def test_an_auth_type_that_cannot_start_says_so_in_one_line(
    served: str, plan: Plan, auth_type: str, hint: str
) -> None:
    code, _, err = plan(DATABRICKS_HOST=served, DATABRICKS_AUTH_TYPE=auth_type)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1, err
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {auth_type} auth for {served} failed: ")
    assert hint in lines[0]


def test_an_exchange_the_workspace_refuses_keeps_the_token_out_of_the_line(
    served: str, plan: Plan
) -> None:
    expired = jwt(exp=int(time.time()) - 60)
    code, _, err = plan(
        DATABRICKS_HOST=served,
        DATABRICKS_AUTH_TYPE="env-oidc",
        DATABRICKS_CLIENT_ID=SP_APP_ID,
        DATABRICKS_OIDC_TOKEN=expired,
    )
    assert code == 1, err
    assert "env-oidc auth for" in err
    assert expired not in err
    assert expired.split(".")[1] not in err


def test_without_databricks_sdk_the_line_says_to_install_it(
    served: str, plan: Plan, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "databricks.sdk.core", None)  # as if not installed
    code, _, err = plan(DATABRICKS_HOST=served, DATABRICKS_AUTH_TYPE="databricks-cli")
    assert code == 1, err
    assert err.strip() == (
        f"error: auth type databricks-cli for {served} needs the databricks-sdk package, which "
        "is not installed; install it (pip install databricks-sdk) or use a token or OAuth M2M"
    )
