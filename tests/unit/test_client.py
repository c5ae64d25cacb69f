"""The async client against respx routes: errors, retries, Retry-After, OAuth, no token leaks."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
import pytest
import respx

from servingops.auth import Credentials
from servingops.client import Client, RetryPolicy
from servingops.errors import ApiError, AuthError, Conflict, NotFound, RateLimited, TransportError
from tests.netsupport import FakeTime

HOST = "https://adb-1.example.net"
SECRET = "dapi-SUPERSECRET-123"


def make_client(t: FakeTime, *, creds: Credentials | None = None, budget: float = 60) -> Client:
    retry = RetryPolicy(sleep=t.sleep, clock=t.clock, budget=budget, rng=random.Random(1))
    return Client(creds or Credentials(host=HOST, token=SECRET), retry=retry)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def error(status: int, code: str, message: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"error_code": code, "message": message}, headers=headers)


@respx.mock
def test_sends_bearer_token_and_user_agent() -> None:
    route = respx.get(f"{HOST}/api/2.0/serving-endpoints").respond(
        json={"endpoints": [{"name": "a"}]}
    )
    t = FakeTime()
    assert run(make_client(t).list_endpoints()) == [{"name": "a"}]
    request = route.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {SECRET}"
    assert request.headers["User-Agent"].startswith("servingops/")


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [(404, "RESOURCE_DOES_NOT_EXIST", NotFound), (409, "RESOURCE_CONFLICT", Conflict),
     (400, "INVALID_PARAMETER_VALUE", ApiError)],
)  # fmt: skip
@respx.mock
def test_status_maps_to_exception(status: int, code: str, cls: type[ApiError]) -> None:
    respx.put(f"{HOST}/api/2.0/serving-endpoints/x/config").mock(
        return_value=error(status, code, f"bad things, token was {SECRET[:0]}")
    )
    with pytest.raises(cls) as info:
        run(make_client(FakeTime()).update_config("x", {"served_entities": []}))
    assert info.value.error_code == code
    assert str(info.value).startswith(
        f"PUT /api/2.0/serving-endpoints/x/config failed with HTTP {status}"
    )
    assert SECRET not in str(info.value)


@respx.mock
def test_get_of_missing_endpoint_is_none() -> None:
    respx.get(f"{HOST}/api/2.0/serving-endpoints/nope").mock(
        return_value=error(
            404, "RESOURCE_DOES_NOT_EXIST", "Endpoint with name 'nope' does not exist."
        )
    )
    assert run(make_client(FakeTime()).get_endpoint("nope")) is None


@respx.mock
def test_retry_after_is_honoured_then_succeeds() -> None:
    route = respx.get(f"{HOST}/api/2.0/serving-endpoints/a").mock(
        side_effect=[
            error(429, "REQUEST_LIMIT_EXCEEDED", "slow down", **{"Retry-After": "7"}),
            error(503, "TEMPORARILY_UNAVAILABLE", "busy"),
            httpx.Response(200, json={"name": "a"}),
        ]
    )
    t = FakeTime()
    assert run(make_client(t).get_endpoint("a")) == {"name": "a"}
    assert route.call_count == 3
    assert 7 <= t.sleeps[0] < 7.3  # Retry-After plus a little jitter
    assert t.sleeps[1] <= 1.0  # capped exponential backoff, attempt 1


@respx.mock
def test_retries_stop_at_the_budget() -> None:
    respx.get(f"{HOST}/api/2.0/serving-endpoints/a").mock(
        return_value=error(429, "REQUEST_LIMIT_EXCEEDED", "slow down", **{"Retry-After": "30"})
    )
    t = FakeTime()
    with pytest.raises(RateLimited):
        run(make_client(t, budget=100).get_endpoint("a"))
    assert t.now <= 100


@respx.mock
def test_connection_errors_become_one_line_transport_error() -> None:
    respx.get(f"{HOST}/api/2.0/serving-endpoints").mock(side_effect=httpx.ConnectError("boom"))
    with pytest.raises(TransportError, match=r"could not connect to adb-1\.example\.net"):
        run(make_client(FakeTime(), budget=5).list_endpoints())


@respx.mock
def test_oauth_token_is_cached_and_refreshed_before_expiry() -> None:
    respx.get(f"{HOST}/oidc/.well-known/oauth-authorization-server").respond(
        json={"token_endpoint": f"{HOST}/oidc/v1/token"}
    )
    tokens = iter(["tok-1", "tok-2"])
    token_route = respx.post(f"{HOST}/oidc/v1/token").mock(
        side_effect=lambda request: httpx.Response(
            200, json={"access_token": next(tokens), "token_type": "Bearer", "expires_in": 3600}
        )
    )
    api = respx.get(f"{HOST}/api/2.0/preview/scim/v2/Me").respond(json={"userName": "sp"})
    t = FakeTime()
    creds = Credentials(host=HOST, client_id="cid", client_secret="csecret")
    client = make_client(t, creds=creds)

    async def scenario() -> None:
        await client.me()
        await client.me()
        t.now += 3600 - 30  # inside the refresh margin
        await client.me()

    run(scenario())
    assert token_route.call_count == 2
    form = token_route.calls[0].request.content.decode()
    assert "grant_type=client_credentials" in form
    assert "scope=all-apis" in form
    assert [c.request.headers["Authorization"] for c in api.calls] == [
        "Bearer tok-1", "Bearer tok-1", "Bearer tok-2"
    ]  # fmt: skip


@respx.mock
def test_refused_oauth_credentials_say_what_to_check_without_the_secret() -> None:
    respx.get(f"{HOST}/oidc/.well-known/oauth-authorization-server").respond(404)
    respx.post(f"{HOST}/oidc/v1/token").respond(401, json={"error": "invalid_client"})
    creds = Credentials(host=HOST, client_id="cid", client_secret=SECRET)
    with pytest.raises(AuthError) as info:
        run(make_client(FakeTime(), creds=creds).me())
    assert "DATABRICKS_CLIENT_SECRET" in str(info.value)
    assert SECRET not in str(info.value)
    assert SECRET not in repr(creds)


@respx.mock
def test_patch_tags_body_uses_delete_tags() -> None:
    route = respx.patch(f"{HOST}/api/2.0/serving-endpoints/a/tags").respond(json={"tags": []})
    run(make_client(FakeTime()).patch_tags("a", add=[{"key": "k", "value": "v"}], delete=["old"]))
    assert route.calls.last.request.read() == (
        b'{"add_tags":[{"key":"k","value":"v"}],"delete_tags":["old"]}'
    )


@respx.mock
def test_names_are_escaped_in_paths() -> None:
    route = respx.get(f"{HOST}/api/2.0/serving-endpoints/a%2Fb").respond(json={"name": "a/b"})
    run(make_client(FakeTime()).get_endpoint("a/b"))
    assert route.called


@respx.mock
def test_a_host_that_never_answered_fails_fast_on_connection_errors() -> None:
    # A wrong host or port (connection refused) used to be retried for the whole 5-minute
    # budget before the one-line error.
    respx.get(f"{HOST}/api/2.0/serving-endpoints").mock(side_effect=httpx.ConnectError("refused"))
    t = FakeTime()
    with pytest.raises(TransportError, match="could not connect to"):
        run(make_client(t, budget=300).list_endpoints())
    assert t.now <= 10


@respx.mock
def test_connection_errors_after_the_host_answered_use_the_whole_budget() -> None:
    route = respx.get(f"{HOST}/api/2.0/serving-endpoints/a")
    route.side_effect = [httpx.Response(200, json={"name": "a"})] + [
        httpx.ConnectError("blip")
    ] * 200

    async def go(client: Client) -> None:
        await client.get_endpoint("a")
        await client.get_endpoint("a")

    t = FakeTime()
    with pytest.raises(TransportError):
        run(go(make_client(t, budget=120)))
    assert t.now > 10


# --------------------------------------------------------------------------------------------
# Pre-flight and export lookups (read only)


@respx.mock
def test_model_lookups_use_the_unity_catalog_routes() -> None:
    # GET /api/2.1/unity-catalog/models/{full_name}/versions/{version} and .../aliases/{alias}
    # (databricks-sdk-py service/catalog.py ModelVersionsAPI.get and get_by_alias), and
    # GET .../models/{full_name}?include_aliases=true (RegisteredModelsAPI.get).
    base = f"{HOST}/api/2.1/unity-catalog/models/main.risk.fraud"
    version = respx.get(f"{base}/versions/8").respond(json={"version": 8, "status": "READY"})
    alias = respx.get(f"{base}/aliases/champion").respond(json={"version": 8, "status": "READY"})
    model = respx.get(base, params={"include_aliases": "true"}).respond(
        json={"aliases": [{"alias_name": "champion", "version_num": 8}]}
    )
    client = make_client(FakeTime())
    assert run(client.get_model_version("main.risk.fraud", "8"))["status"] == "READY"
    assert run(client.get_model_version_by_alias("main.risk.fraud", "champion"))["version"] == 8
    raw = run(client.get_registered_model("main.risk.fraud", include_aliases=True))
    assert raw["aliases"][0]["alias_name"] == "champion"
    assert version.called
    assert alias.called
    assert model.called


@respx.mock
def test_secret_keys_are_listed_by_name_and_a_missing_scope_is_not_found() -> None:
    # GET /api/2.0/secrets/list?scope=... answers {"secrets": [{"key", "last_updated_timestamp"}]}
    # and RESOURCE_DOES_NOT_EXIST for a scope that does not exist (SecretsAPI.list_secrets).
    route = respx.get(f"{HOST}/api/2.0/secrets/list", params={"scope": "llm"}).respond(
        json={"secrets": [{"key": "openai-key", "last_updated_timestamp": 1}]}
    )
    respx.get(f"{HOST}/api/2.0/secrets/list", params={"scope": "nope"}).mock(
        return_value=error(404, "RESOURCE_DOES_NOT_EXIST", "Scope nope does not exist!")
    )
    client = make_client(FakeTime())
    assert run(client.list_secret_keys("llm")) == ["openai-key"]
    assert route.called
    with pytest.raises(NotFound):
        run(client.list_secret_keys("nope"))


@respx.mock
@pytest.mark.parametrize(
    ("kind", "resource", "expected"),
    [
        ("user", "Users", 'userName eq "ana@example.com"'),
        ("group", "Groups", 'displayName eq "risk \\"analysts\\""'),
        ("service_principal", "ServicePrincipals", 'applicationId eq "6f1c"'),
    ],
)
def test_principals_are_found_with_a_scim_filter(kind: str, resource: str, expected: str) -> None:
    # SCIM filters per RFC 7644 section 3.4.2.2; quotes inside a value are escaped as in JSON.
    route = respx.get(f"{HOST}/api/2.0/preview/scim/v2/{resource}").respond(
        json={"totalResults": 1, "Resources": [{"id": "1"}]}
    )
    name = {"user": "ana@example.com", "group": 'risk "analysts"'}.get(kind, "6f1c")
    assert run(make_client(FakeTime()).find_principals(kind, name)) == [{"id": "1"}]
    params = route.calls.last.request.url.params
    assert params["filter"] == expected
    assert params["attributes"] == "id"


@respx.mock
def test_a_scim_error_keeps_its_detail() -> None:
    # SCIM errors carry their words in `detail` (RFC 7644 section 3.12).
    respx.get(f"{HOST}/api/2.0/preview/scim/v2/Groups").respond(
        403, json={"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                   "detail": "Only admins may list groups", "status": "403"}
    )  # fmt: skip
    with pytest.raises(ApiError, match="Only admins may list groups"):
        run(make_client(FakeTime()).find_principals("group", "x"))
