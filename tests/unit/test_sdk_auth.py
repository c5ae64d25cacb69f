"""Delegated auth: the SDK's headers are fetched off the loop, reused briefly, dropped on 401."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Mapping

import pytest

from servingops.auth import Credentials
from servingops.errors import AuthError
from servingops.sdk_auth import HEADER_TTL, DelegatedAuth, failure_message

CREDS = Credentials(host="https://adb-1.example.net", auth_type="github-oidc")


class Headers:
    """A stand-in for the SDK's header factory: a new token on every call."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> Mapping[str, str]:
        self.calls += 1
        return {"Authorization": f"Bearer sdk-{self.calls}"}


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_headers_are_reused_within_the_ttl_then_asked_for_again() -> None:
    factory, clock = Headers(), Clock()
    auth = DelegatedAuth(CREDS, {}, clock, factory=factory)

    async def scenario() -> list[str]:
        seen = [(await auth.headers())["Authorization"] for _ in range(3)]
        clock.now += HEADER_TTL
        seen.append((await auth.headers())["Authorization"])
        auth.invalidate()  # what the client does after a 401
        seen.append((await auth.headers())["Authorization"])
        return seen

    assert asyncio.run(scenario()) == [
        "Bearer sdk-1", "Bearer sdk-1", "Bearer sdk-1", "Bearer sdk-2", "Bearer sdk-3"
    ]  # fmt: skip


def test_a_failing_provider_is_one_line_without_its_secrets() -> None:
    def fail() -> Mapping[str, str]:
        raise OSError("cannot get access token: server said no to ghs_SECRETSECRET\nsee logs")

    auth = DelegatedAuth(CREDS, {"ACTIONS_ID_TOKEN_REQUEST_TOKEN": "ghs_SECRETSECRET"}, Clock(),
                         factory=fail)  # fmt: skip
    with pytest.raises(AuthError) as info:
        asyncio.run(auth.headers())
    message = str(info.value)
    assert message.startswith("github-oidc auth for https://adb-1.example.net failed: ")
    assert "SECRETSECRET" not in message
    assert "\n" not in message


def test_a_header_value_that_cannot_be_sent_is_refused() -> None:
    auth = DelegatedAuth(CREDS, {}, Clock(), factory=lambda: {"Authorization": "Bearer x\n"})
    with pytest.raises(AuthError, match="malformed Authorization header"):
        asyncio.run(auth.headers())


def test_failure_message_drops_the_sdks_config_dump_and_any_jwt() -> None:
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOmFjbWUifQ.c2lnbmF0dXJl"
    error = ValueError(
        f"default auth: invalid_grant: token {jwt} rejected. Config: host=https://x, "
        "auth_type=env-oidc. Env: DATABRICKS_HOST"
    )
    creds = Credentials(host="https://x", auth_type="env-oidc")
    assert failure_message(creds, {}, error) == (
        "env-oidc auth for https://x failed: invalid_grant: token *** rejected; set "
        "DATABRICKS_OIDC_TOKEN (or name the variable in DATABRICKS_OIDC_TOKEN_ENV)"
    )


def test_the_native_paths_never_import_the_sdk() -> None:
    # PAT and OAuth M2M keep their start-up time: databricks-sdk (with requests and
    # google-auth behind it) loads only when a delegated auth type is configured.
    code = (
        "import sys, asyncio, servingops.cli, servingops.workspace\n"
        "from servingops.client import Client\n"
        "from servingops.auth import Credentials\n"
        "Client(Credentials(host='https://adb-1.example.net', token='t'), env={})\n"
        "Client(Credentials(host='https://adb-1.example.net', client_id='i', client_secret='s'))\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('databricks', 'requests'))\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=60)
