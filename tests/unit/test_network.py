"""Proxies, CA bundles and transport failures, against a real proxy and TLS server on loopback.

The environment reaches the client only through `env=` (Settings.env in the CLI), so these tests
never touch the process environment. Certificates come from trustme's throwaway CA.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from servingops.auth import Credentials
from servingops.client import Client, RetryPolicy
from servingops.errors import AuthError, TransportError
from tests.netsupport import FakeTime, free_port, http_proxy, tls_workspace

TOKEN = "dapi-NEVER-PRINTED-42"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


@pytest.fixture
def localhost_tls(ca: trustme.CA) -> Iterator[tuple[int, Any]]:
    with tls_workspace(server_context(ca, "localhost")) as served:
        yield served


def make_client(host: str, env: dict[str, str], *, creds: Credentials | None = None) -> Client:
    t = FakeTime()
    retry = RetryPolicy(sleep=t.sleep, clock=t.clock, budget=30, connect_budget=2)
    return Client(creds or Credentials(host=host, token=TOKEN), env=env, retry=retry, timeout=5)


def list_endpoints(host: str, env: dict[str, str], **kwargs: Any) -> list[dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        async with make_client(host, env, **kwargs) as client:
            return await client.list_endpoints()

    return asyncio.run(go())


def failure(host: str, env: dict[str, str], **kwargs: Any) -> str:
    with pytest.raises(TransportError) as info:
        list_endpoints(host, env, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    assert TOKEN not in message
    return message


# -- proxies ----------------------------------------------------------------------------------


def test_https_requests_tunnel_through_the_proxy(ca: trustme.CA, ca_file: str) -> None:
    # workspace.test resolves nowhere: the request can only succeed through the proxy.
    with tls_workspace(server_context(ca, "workspace.test")) as (port, log):
        routes = {"workspace.test": ("127.0.0.1", port)}
        with http_proxy(routes=routes) as (proxy, seen):
            env = {"HTTPS_PROXY": proxy, "SSL_CERT_FILE": ca_file}
            got = list_endpoints(f"https://workspace.test:{port}", env)
    assert got == [{"name": "via-tls"}]
    assert seen.tunnels == [f"workspace.test:{port}"]
    assert log.requests[0][:2] == ("GET", "/api/2.0/serving-endpoints")


def test_oauth_token_requests_go_through_the_proxy_too(ca: trustme.CA, ca_file: str) -> None:
    with tls_workspace(server_context(ca, "workspace.test")) as (port, log):
        routes = {"workspace.test": ("127.0.0.1", port)}
        host = f"https://workspace.test:{port}"
        creds = Credentials(host=host, client_id="cid", client_secret="csecret")
        with http_proxy(routes=routes) as (proxy, seen):
            client = make_client(host, {"HTTPS_PROXY": proxy, "REQUESTS_CA_BUNDLE": ca_file},
                                 creds=creds)  # fmt: skip

            async def go() -> dict[str, Any]:
                async with client:
                    return await client.me()

            assert asyncio.run(go()) == {"userName": "sp"}
    assert [r[:2] for r in log.requests] == [
        ("GET", "/oidc/.well-known/oauth-authorization-server"),
        ("POST", "/oidc/v1/token"),
        ("GET", "/api/2.0/preview/scim/v2/Me"),
    ]
    assert log.requests[-1][2] == "Bearer tls-oauth"
    assert set(seen.tunnels) == {f"workspace.test:{port}"}
    assert len(seen.tunnels) == 2  # the token client's connection and one lane


@pytest.mark.parametrize(
    "no_proxy", ["localhost", "*", "example.org, LOCALHOST", ".host,localhost"]
)
def test_no_proxy_goes_direct(localhost_tls: tuple[int, Any], ca_file: str, no_proxy: str) -> None:
    port, _ = localhost_tls
    with http_proxy() as (proxy, seen):
        env = {"HTTPS_PROXY": proxy, "NO_PROXY": no_proxy, "SSL_CERT_FILE": ca_file}
        assert list_endpoints(f"https://localhost:{port}", env) == [{"name": "via-tls"}]
    assert seen.requests == []


@pytest.mark.parametrize("no_proxy", ["example.org", ".localhost", "localhost:1"])
def test_no_proxy_that_does_not_match_keeps_the_proxy(
    localhost_tls: tuple[int, Any], ca_file: str, no_proxy: str
) -> None:
    port, _ = localhost_tls
    with http_proxy() as (proxy, seen):
        env = {"HTTPS_PROXY": proxy, "NO_PROXY": no_proxy, "SSL_CERT_FILE": ca_file}
        list_endpoints(f"https://localhost:{port}", env)
    assert seen.tunnels == [f"localhost:{port}"]


def test_no_proxy_takes_cidr_blocks(ca: trustme.CA, ca_file: str) -> None:
    with tls_workspace(server_context(ca, "127.0.0.1")) as (port, _), http_proxy() as (p, seen):
        env = {"HTTPS_PROXY": p, "no_proxy": "10.0.0.0/8,127.0.0.0/8", "SSL_CERT_FILE": ca_file}
        list_endpoints(f"https://127.0.0.1:{port}", env)
    assert seen.requests == []


def test_lower_case_proxy_variable_wins(localhost_tls: tuple[int, Any], ca_file: str) -> None:
    port, _ = localhost_tls
    with http_proxy() as (proxy, seen):
        env = {
            "HTTPS_PROXY": f"http://127.0.0.1:{free_port()}",  # nothing listens there
            "https_proxy": proxy,
            "SSL_CERT_FILE": ca_file,
        }
        list_endpoints(f"https://localhost:{port}", env)
    assert seen.tunnels == [f"localhost:{port}"]


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
def test_plain_http_goes_through_a_forward_proxy(variable: str) -> None:
    with tls_workspace(None) as (port, log), http_proxy() as (proxy, seen):
        got = list_endpoints(f"http://127.0.0.1:{port}", {variable: proxy})
    assert got == [{"name": "via-tls"}]
    assert seen.requests == [("GET", f"http://127.0.0.1:{port}/api/2.0/serving-endpoints")]
    assert log.requests[0][2] == f"Bearer {TOKEN}"


def test_https_proxy_is_not_used_for_plain_http() -> None:
    with tls_workspace(None) as (port, _), http_proxy() as (proxy, seen):
        list_endpoints(f"http://127.0.0.1:{port}", {"HTTPS_PROXY": proxy})
    assert seen.requests == []


# -- CA bundles -------------------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_ca_bundle_variable_makes_verification_pass(
    localhost_tls: tuple[int, Any], ca_file: str, variable: str
) -> None:
    port, _ = localhost_tls
    assert list_endpoints(f"https://localhost:{port}", {variable: ca_file}) == [{"name": "via-tls"}]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to hash a CA dir")
@pytest.mark.parametrize("variable", ["SSL_CERT_DIR", "REQUESTS_CA_BUNDLE"])
def test_ca_directory_makes_verification_pass(
    localhost_tls: tuple[int, Any], ca_file: str, tmp_path: Path, variable: str
) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    shutil.copy(ca_file, certs / "ca.pem")
    subprocess.run(["openssl", "rehash", str(certs)], check=True, capture_output=True)
    port, _ = localhost_tls
    assert list_endpoints(f"https://localhost:{port}", {variable: str(certs)})


def test_untrusted_certificate_says_so_and_names_the_variables(
    localhost_tls: tuple[int, Any],
) -> None:
    port, log = localhost_tls
    message = failure(f"https://localhost:{port}", {})
    assert "TLS certificate of localhost is not trusted" in message
    assert "SSL_CERT_FILE" in message
    assert "REQUESTS_CA_BUNDLE" in message
    assert log.requests == []


def test_a_bundle_without_the_signing_ca_says_which_bundle_was_used(
    localhost_tls: tuple[int, Any], tmp_path: Path
) -> None:
    other = tmp_path / "other.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    port, _ = localhost_tls
    message = failure(f"https://localhost:{port}", {"SSL_CERT_FILE": str(other)})
    assert "not trusted" in message
    assert "trusted now: the bundles in SSL_CERT_FILE" in message


def test_hostname_mismatch_says_so(ca: trustme.CA, ca_file: str) -> None:
    with tls_workspace(server_context(ca, "other.test")) as (port, _):
        message = failure(f"https://localhost:{port}", {"SSL_CERT_FILE": ca_file})
    assert "hostname mismatch" in message
    assert "localhost" in message


def test_plain_http_server_on_an_https_url_says_to_check_the_scheme() -> None:
    with tls_workspace(None) as (port, _):
        message = failure(f"https://127.0.0.1:{port}", {})
    assert f"TLS handshake with 127.0.0.1:{port} failed" in message
    assert "plain http" in message


@pytest.mark.parametrize(
    ("variable", "value", "needle"),
    [("SSL_CERT_FILE", "/no/such/ca.pem", "does not exist"),
     ("REQUESTS_CA_BUNDLE", __file__, "not a usable PEM CA bundle")],
)  # fmt: skip
def test_unusable_ca_bundle_is_one_line(variable: str, value: str, needle: str) -> None:
    message = failure("https://localhost:1", {variable: value})
    assert message.startswith(f"{variable} names {value}")
    assert needle in message


# -- failures on the way ----------------------------------------------------------------------


def test_refused_connection_names_host_and_port() -> None:
    port = free_port()
    message = failure(f"http://127.0.0.1:{port}", {})
    assert f"127.0.0.1:{port} refused the connection" in message


def test_refused_proxy_names_the_proxy_and_its_variable() -> None:
    port = free_port()
    env = {"HTTPS_PROXY": f"http://alice:pw-123@127.0.0.1:{port}"}
    message = failure("https://workspace.test", env)
    assert f"proxy http://127.0.0.1:{port} (HTTPS_PROXY) refused the connection" in message
    assert "pw-123" not in message
    assert "alice" not in message


@pytest.mark.parametrize(("status", "retried"), [(407, False), (502, True)])
def test_proxy_refusing_the_tunnel_is_a_proxy_error(status: int, retried: bool) -> None:
    # 407 (credentials wanted) is final; a 502 may pass, within the connect budget.
    t = FakeTime()
    retry = RetryPolicy(sleep=t.sleep, clock=t.clock, budget=300, connect_budget=1.0,
                        base=0.4, cap=0.4)  # fmt: skip
    with http_proxy(refuse=status) as (proxy, seen):
        client = Client(Credentials(host="https://workspace.test", token=TOKEN),
                        env={"HTTPS_PROXY": proxy}, retry=retry)  # fmt: skip
        with pytest.raises(TransportError) as info:
            asyncio.run(client.list_endpoints())
    assert f"refused to connect to workspace.test (HTTP {status})" in str(info.value)
    assert (len(seen.requests) > 1) is retried
    assert t.now <= 1.0  # never the 5-minute budget: the workspace itself never answered


@pytest.mark.parametrize("value", ["ftp://proxy.example:21", "http://[::1"])
def test_unusable_proxy_url_is_one_line(value: str) -> None:
    message = failure("https://workspace.test", {"HTTPS_PROXY": value})
    assert message == (
        "HTTPS_PROXY is not a usable proxy URL; use http://host:port (or https://, socks5://)"
    )


def test_oauth_discovery_naming_another_host_is_refused(ca: trustme.CA, ca_file: str) -> None:
    # The client secret goes only to the workspace's own host (issue 9, item 11).
    with tls_workspace(server_context(ca, "localhost"), token_host="evil.example") as (port, log):
        host = f"https://localhost:{port}"
        creds = Credentials(host=host, client_id="cid", client_secret="csecret")
        with pytest.raises(AuthError) as info:
            list_endpoints(host, {"SSL_CERT_FILE": ca_file}, creds=creds)
    assert "names a token endpoint elsewhere (https://evil.example)" in str(info.value)
    assert [r[1] for r in log.requests] == ["/oidc/.well-known/oauth-authorization-server"]


def test_oauth_discovery_naming_plain_http_on_the_same_host_is_refused() -> None:
    def discovery(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"token_endpoint": "http://adb-1.example.net/token"})

    creds = Credentials(host="https://adb-1.example.net", client_id="cid", client_secret="s")
    client = Client(creds, transport=httpx.MockTransport(discovery))
    with pytest.raises(AuthError, match=r"elsewhere \(http://adb-1\.example\.net\)"):
        asyncio.run(client.list_endpoints())


# -- every httpx failure has its own line -------------------------------------------------------


def _http_error_classes() -> list[type[httpx.HTTPError]]:
    exported = (getattr(httpx, name) for name in httpx.__all__)
    return [c for c in exported if isinstance(c, type) and issubclass(c, httpx.HTTPError)]


def _leaves() -> list[type[httpx.HTTPError]]:
    classes = _http_error_classes()
    return [c for c in classes if not any(o is not c and issubclass(o, c) for o in classes)]


def _instance(cls: type[httpx.HTTPError]) -> httpx.HTTPError:
    # A message carrying the token stands for h11's "Illegal header value b'Bearer ...'".
    request = httpx.Request("GET", "https://adb-1.example.net/api/2.0/serving-endpoints")
    text = f"Illegal header value b'Bearer {TOKEN}'"
    if issubclass(cls, httpx.HTTPStatusError):
        return cls(text, request=request, response=httpx.Response(418, request=request))
    if issubclass(cls, httpx.RequestError):
        return cls(text, request=request)
    return cls(text)


def test_the_walk_covers_every_transport_failure() -> None:
    names = {c.__name__ for c in _leaves()}
    assert {"ConnectError", "ConnectTimeout", "ReadTimeout", "WriteTimeout", "PoolTimeout",
            "ReadError", "WriteError", "CloseError", "LocalProtocolError",
            "RemoteProtocolError", "ProxyError", "UnsupportedProtocol"} <= names  # fmt: skip


@pytest.mark.parametrize("cls", _http_error_classes(), ids=lambda c: c.__name__)
def test_every_httpx_error_maps_to_a_specific_line_naming_the_host(
    cls: type[httpx.HTTPError],
) -> None:
    from servingops import network

    net = network.Network(proxy=httpx.Proxy("http://127.0.0.1:3128"), proxy_variable="HTTPS_PROXY")
    url = httpx.URL("https://adb-1.example.net/api/2.0/serving-endpoints")
    message = network.describe(_instance(cls), url=url, network=net, timeout=60)
    assert "adb-1.example.net" in message or "127.0.0.1:3128" in message
    assert cls.__name__ not in message
    assert TOKEN not in message
    assert "\n" not in message


def test_each_leaf_failure_reads_differently() -> None:
    from servingops import network

    url = httpx.URL("https://adb-1.example.net/x")
    messages = {
        cls.__name__: network.describe(_instance(cls), url=url, network=network.Network(),
                                       timeout=60)
        for cls in _leaves()
    }  # fmt: skip
    assert len(set(messages.values())) == len(messages), messages


@pytest.mark.parametrize(
    "cls", [c for c in _leaves() if issubclass(c, httpx.TransportError)], ids=lambda c: c.__name__
)
def test_the_client_reports_each_transport_failure_in_one_line(
    cls: type[httpx.TransportError],
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise _instance(cls)

    t = FakeTime()
    retry = RetryPolicy(sleep=t.sleep, clock=t.clock, budget=30, connect_budget=2)
    creds = Credentials(host="https://adb-1.example.net", token=TOKEN)
    client = Client(creds, transport=httpx.MockTransport(fail), retry=retry)
    with pytest.raises(TransportError) as info:
        asyncio.run(client.list_endpoints())
    message = str(info.value)
    assert message.startswith("GET /api/2.0/serving-endpoints: ")
    assert "adb-1.example.net" in message
    assert cls.__name__ not in message
    assert TOKEN not in message


def _connect_error(cause: BaseException) -> httpx.ConnectError:
    try:
        raise cause
    except BaseException as e:
        try:
            raise httpx.ConnectError(str(e)) from e
        except httpx.ConnectError as wrapped:
            return wrapped


@pytest.mark.parametrize(
    ("cause", "needle", "permanent"),
    [(socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
      "could not resolve the host name of adb-1.example.net", True),
     (socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
      "temporary failure resolving the host name of adb-1.example.net", False),
     (ConnectionRefusedError(111, "Connection refused"),
      "adb-1.example.net refused the connection", False)],
)  # fmt: skip
def test_dns_and_refusals_read_as_such(cause: OSError, needle: str, permanent: bool) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise _connect_error(cause)

    t = FakeTime()
    retry = RetryPolicy(sleep=t.sleep, clock=t.clock, budget=30, connect_budget=2)
    creds = Credentials(host="https://adb-1.example.net", token=TOKEN)
    client = Client(creds, transport=httpx.MockTransport(fail), retry=retry)
    with pytest.raises(TransportError, match=needle):
        asyncio.run(client.list_endpoints())
    assert (t.sleeps == []) is permanent  # a name that does not exist is not retried
