"""OAuth token federation: the RFC 8693 token exchange on /oidc/v1/token.

What the SDK sends (databricks-sdk-py, databricks/sdk/oidc.py DatabricksOidcTokenSource and
oauth.py retrieve_token): a form POST with grant_type
urn:ietf:params:oauth:grant-type:token-exchange, subject_token_type
urn:ietf:params:oauth:token-type:jwt, the subject_token, scope, and client_id for a
service-principal federation policy (absent for an account-wide policy). What the workspace
requires (docs.databricks.com/aws/en/dev-tools/auth/oauth-federation-exchange): a JWT signed
with RS256 or ES256; the access token's lifetime follows the federated token's. The emulator
checks the JWT's shape, algorithm and expiry, not its signature or a federation policy.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serving_emulator import Emulator, ManualClock

from .conftest import START, Api, make_emulator, yaml_file

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
SP_APP_ID = "6f1c2f0e-0000-4000-8000-0000000000ee"


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def jwt(alg: str = "RS256", **claims: Any) -> str:
    claims.setdefault("sub", "repo:acme/models:environment:prod")
    return f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(claims)}.c2lnbmF0dXJl"


def exchange(api: Api, subject: str, **extra: str) -> Any:
    form = {"grant_type": GRANT, "subject_token_type": JWT_TYPE, "subject_token": subject,
            "scope": "all-apis", **extra}  # fmt: skip
    return api.post("/oidc/v1/token", data=form)


@pytest.fixture
def anon(emu: Emulator[ManualClock]) -> Iterator[Api]:
    client = Api(emu, token=None)
    yield client
    client.close()


def test_open_workspace_exchanges_any_well_formed_jwt(anon: Api) -> None:
    r = exchange(anon, jwt())
    assert r.status_code == 200, r.text
    token = r.json()
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    assert token["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    me = anon.get(
        "/api/2.0/preview/scim/v2/Me",
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )
    assert me.json()["userName"] == "local-admin@example.com"


@pytest.mark.parametrize(
    ("subject", "status", "error"),
    [("not-a-jwt", 400, "invalid_grant"), (jwt(alg="HS256"), 400, "invalid_grant"),
     (jwt(alg="none"), 400, "invalid_grant"), (jwt(exp=int(START) - 1), 400, "invalid_grant"),
     ("", 400, "invalid_request")],
)  # fmt: skip
def test_unusable_subject_tokens_are_oauth_errors(
    anon: Api, subject: str, status: int, error: str
) -> None:
    r = exchange(anon, subject)
    assert (r.status_code, r.json()["error"]) == (status, error)
    assert r.json()["error_description"]


def test_subject_token_type_must_be_jwt(anon: Api) -> None:
    r = exchange(anon, jwt(), subject_token_type="urn:ietf:params:oauth:token-type:id_token")
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")


def test_a_body_that_is_not_utf8_is_an_oauth_error(anon: Api) -> None:
    r = anon.post(
        "/oidc/v1/token",
        content=b"grant_type=\xff\xfe",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")


@pytest.fixture
def team_emu(tmp_path: Path) -> Iterator[Emulator[ManualClock]]:
    users = {
        "users": [{"user_name": "alice@example.com", "tokens": ["t-alice"]}],
        "service_principals": [{"application_id": SP_APP_ID, "display_name": "gha"}],
    }
    emulator = make_emulator(users_file=yaml_file(tmp_path / "users.yaml", users))
    yield emulator
    emulator.close()


@pytest.fixture
def team(team_emu: Emulator[ManualClock]) -> Iterator[Api]:
    client = Api(team_emu, token=None)
    yield client
    client.close()


def test_client_id_names_the_federated_service_principal(team: Api) -> None:
    token = exchange(team, jwt(), client_id=SP_APP_ID).json()
    me = team.get(
        "/api/2.0/preview/scim/v2/Me",
        headers={"Authorization": f"Bearer {token['access_token']}"},
    ).json()
    assert me["applicationId"] == SP_APP_ID


def test_account_wide_federation_maps_the_subject_to_a_user(team: Api) -> None:
    token = exchange(team, jwt(sub="alice@example.com")).json()
    me = team.get(
        "/api/2.0/preview/scim/v2/Me",
        headers={"Authorization": f"Bearer {token['access_token']}"},
    ).json()
    assert me["userName"] == "alice@example.com"


@pytest.mark.parametrize(
    ("extra", "subject", "status", "error"),
    [({"client_id": "unknown-app"}, jwt(), 401, "invalid_client"),
     ({}, jwt(sub="mallory@example.com"), 400, "invalid_grant")],
)  # fmt: skip
def test_unknown_federated_identities_are_refused(
    team: Api, extra: dict[str, str], subject: str, status: int, error: str
) -> None:
    r = exchange(team, subject, **extra)
    assert (r.status_code, r.json()["error"]) == (status, error)


def test_lifetime_follows_the_federated_token(team: Api, team_emu: Emulator[ManualClock]) -> None:
    token = exchange(team, jwt(exp=int(START) + 600), client_id=SP_APP_ID).json()
    assert token["expires_in"] == 600
    me = "/api/2.0/preview/scim/v2/Me"
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    assert team.get(me, headers=auth).status_code == 200
    team_emu.advance(601)
    assert team.get(me, headers=auth).status_code == 401
