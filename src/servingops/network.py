"""How the client reaches a workspace: the proxy and CA bundle the environment names, and one
line, naming the host, for every way a request can fail on the way there.

Proxies are read as httpx reads them (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY; lower case
wins, as in urllib), CA bundles as requests and OpenSSL do (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE,
SSL_CERT_FILE, SSL_CERT_DIR). The environment is always passed in, never read from the process.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TypeVar

import httpx

from .errors import TransportError

CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")
_CA_HINT = "point SSL_CERT_FILE or REQUESTS_CA_BUNDLE at the CA bundle that signs it"
# OpenSSL verify codes (X509_V_ERR_*) that mean "signed by nobody we trust".
_UNTRUSTED = frozenset({2, 18, 19, 20, 21})
_HOSTNAME_MISMATCH = frozenset({62, 64})

_E = TypeVar("_E", bound=BaseException)


@dataclass(frozen=True, slots=True, kw_only=True)
class Network:
    """How requests to one workspace travel: through which proxy, trusting which CAs."""

    proxy: httpx.Proxy | None = None
    proxy_variable: str = ""
    """The environment variable that named the proxy, for messages."""
    verify: ssl.SSLContext | bool = False
    ca_variables: tuple[str, ...] = ()
    """The variables whose CA bundles are trusted instead of the system store."""

    @property
    def proxy_shown(self) -> str:
        """The proxy as scheme://host:port, never with its credentials."""
        if self.proxy is None:
            return ""
        url = self.proxy.url
        port = f":{url.port}" if url.port else ""
        return f"{url.scheme}://{url.host}{port}"

    def transport(self, *, single: bool = False) -> httpx.AsyncHTTPTransport:
        """A transport that takes this proxy and TLS setting; `single`: one connection."""
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1) if single else None
        return httpx.AsyncHTTPTransport(
            verify=self.verify, proxy=self.proxy, limits=limits or httpx.Limits()
        )


def resolve_network(url: str, env: Mapping[str, str]) -> Network:
    """The proxy and TLS settings for requests to `url` under `env`.

    Raises TransportError (one line) for a proxy URL or CA bundle that cannot be used.
    """
    target = httpx.URL(url)
    proxy, variable = _proxy(target, env)
    verify: ssl.SSLContext | bool = False
    names: tuple[str, ...] = ()
    if target.scheme == "https":
        verify, names = _ssl_context(env)
    return Network(proxy=proxy, proxy_variable=variable, verify=verify, ca_variables=names)


# -- proxies ----------------------------------------------------------------------------------


def proxy_url(url: httpx.URL, env: Mapping[str, str]) -> tuple[str, str] | None:
    """(proxy URL, the variable naming it) for a request to `url`, or None to go direct.

    Follows httpx's environment handling (httpx._utils.get_environment_proxies and its mount
    patterns): a NO_PROXY entry matching the host wins, then the scheme's own variable, then
    ALL_PROXY. NO_PROXY also takes CIDR blocks (as requests does) and `*`.
    """
    no_proxy = _variable(env, "no")
    if no_proxy is not None and _bypassed(url, no_proxy[0]):
        return None
    for key in (url.scheme, "all"):
        found = _variable(env, key)
        if found is not None:
            value, name = found
            return (value if "://" in value else f"http://{value}"), name
    return None


def _variable(env: Mapping[str, str], key: str) -> tuple[str, str] | None:
    # urllib.request.getproxies_environment: a lower-case name wins over the upper-case one and
    # an empty lower-case value unsets it; HTTP_PROXY is ignored under CGI (REQUEST_METHOD set,
    # "httpoxy"), where a client could set it through a Proxy header.
    lower = f"{key}_proxy"
    if lower in env:
        value = env[lower].strip()
        return (value, lower) if value else None
    upper = lower.upper()
    value = env.get(upper, "").strip()
    if not value or (key == "http" and "REQUEST_METHOD" in env):
        return None
    return value, upper


def _bypassed(url: httpx.URL, no_proxy: str) -> bool:
    host = url.host.lower()
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        if "://" in entry:
            if _matches_pattern(url, entry):
                return True
            continue
        if _matches_address(host, entry):
            return True
        # "example.com" covers example.com and its subdomains; ".example.com" only the
        # subdomains; "host:8080" only that port (httpx's all://*<entry> pattern).
        name, _, port = entry.partition(":") if entry.count(":") == 1 else (entry, "", "")
        if port and (not port.isdigit() or int(port) != (url.port or _default_port(url))):
            continue
        if name.startswith("."):
            if host.endswith(name):
                return True
        elif host == name or host.endswith("." + name):
            return True
    return False


def _matches_pattern(url: httpx.URL, entry: str) -> bool:
    try:
        pattern = httpx.URL(entry)
    except httpx.InvalidURL:
        return False
    if pattern.scheme not in ("all", url.scheme):
        return False
    if pattern.host and pattern.host not in ("*", url.host):
        return False
    return pattern.port is None or pattern.port == url.port


def _matches_address(host: str, entry: str) -> bool:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
        network = ipaddress.ip_network(entry.strip("[]"), strict=False)
    except ValueError:
        return False
    return address in network


def _default_port(url: httpx.URL) -> int:
    return 443 if url.scheme == "https" else 80


def _proxy(target: httpx.URL, env: Mapping[str, str]) -> tuple[httpx.Proxy | None, str]:
    found = proxy_url(target, env)
    if found is None:
        return None, ""
    value, variable = found
    try:
        proxy = httpx.Proxy(value)
    except (ValueError, httpx.InvalidURL):
        raise TransportError(
            f"{variable} is not a usable proxy URL; use http://host:port (or https://, socks5://)"
        ) from None
    # httpx needs socksio for SOCKS proxies and would fail on the first request without it.
    if proxy.url.scheme.startswith("socks") and not _installed("socksio"):
        raise TransportError(
            f"{variable} names a SOCKS proxy, which needs the socksio package; "
            "install it (pip install 'httpx[socks]') or use an HTTP proxy"
        )
    return proxy, variable


def _installed(module: str) -> bool:
    import importlib.util  # ~4 ms, so only when a SOCKS proxy is configured

    return importlib.util.find_spec(module) is not None


# -- TLS --------------------------------------------------------------------------------------


def _ssl_context(env: Mapping[str, str]) -> tuple[ssl.SSLContext, tuple[str, ...]]:
    named = [(name, env[name].strip()) for name in CA_VARIABLES if env.get(name, "").strip()]
    # Loading the system store costs ~60 ms: the client builds this once and shares it.
    # A named bundle replaces the system store, as it does for requests, httpx and OpenSSL.
    context: ssl.SSLContext | None = None if named else ssl.create_default_context()
    loaded: list[str] = []
    for name, path in named:
        if path in loaded:
            continue
        cafile, capath = (None, path) if os.path.isdir(path) else (path, None)
        try:
            if context is None:
                context = ssl.create_default_context(cafile=cafile, capath=capath)
            else:
                context.load_verify_locations(cafile=cafile, capath=capath)
        except FileNotFoundError:
            raise TransportError(
                f"{name} names {path}, which does not exist; point it at a PEM CA bundle or "
                "unset it"
            ) from None
        except (ssl.SSLError, OSError) as e:
            reason = getattr(e, "reason", None) or getattr(e, "strerror", None) or "unreadable"
            raise TransportError(
                f"{name} names {path}, which is not a usable PEM CA bundle ({reason})"
            ) from None
        loaded.append(path)
    assert context is not None
    return context, tuple(name for name, _ in named)


# -- failures ---------------------------------------------------------------------------------


def describe(error: httpx.HTTPError, *, url: httpx.URL, network: Network, timeout: float) -> str:
    """One line saying what went wrong on the way to `url`'s host and what to check.

    Built only from the failure's kind, the host, the proxy's address and OpenSSL's or the
    resolver's own short reason: never from request headers, so a token cannot leak into it.
    """
    where = _host_port(url)
    causes = list(_causes(error))
    cert = _first(causes, ssl.SSLCertVerificationError)
    if cert is not None:
        return _certificate_message(cert, url=url, network=network)
    tls = _first(causes, ssl.SSLError)
    if tls is not None:
        reason = str(getattr(tls, "reason", None) or "handshake failure").replace("_", " ")
        hint = ""
        if "WRONG VERSION" in reason.upper():
            hint = "; is it serving plain http on that port? check the scheme and port"
        return f"TLS handshake with {where} failed ({reason.lower()}){hint}"
    if isinstance(error, httpx.ProxyError):
        proxy = "the proxy"
        if network.proxy is not None:
            proxy = f"proxy {network.proxy_shown} ({network.proxy_variable})"
        return (
            f"{proxy} refused to connect to "
            f"{where} ({_status(error)}); check the proxy's credentials and allow list, or set "
            "NO_PROXY"
        )
    if isinstance(error, httpx.ConnectTimeout):
        via = f" through proxy {network.proxy_shown}" if network.proxy else ""
        return (
            f"timed out connecting to {where}{via} after {timeout:g} s; check the host, the "
            "network or firewall, and HTTPS_PROXY"
        )
    if isinstance(error, httpx.ReadTimeout):
        return f"{where} did not answer within {timeout:g} s"
    if isinstance(error, httpx.WriteTimeout):
        return f"timed out sending a request to {where} after {timeout:g} s"
    if isinstance(error, httpx.PoolTimeout):
        return f"no connection to {where} became free within {timeout:g} s"
    if isinstance(error, httpx.ConnectError):
        return _connect_message(causes, where=where, network=network)
    if isinstance(error, httpx.ReadError):
        return f"the connection to {where} broke while reading the answer{_errno(causes)}"
    if isinstance(error, httpx.WriteError):
        return f"the connection to {where} broke while sending the request{_errno(causes)}"
    if isinstance(error, httpx.CloseError):
        return f"the connection to {where} did not close cleanly{_errno(causes)}"
    if isinstance(error, httpx.RemoteProtocolError):
        return (
            f"{where} broke the HTTP protocol (it closed the connection without an answer or "
            "sent something that is not HTTP)"
        )
    if isinstance(error, httpx.LocalProtocolError):
        return (
            f"a request to {where} could not be sent: a header or the URL is not valid HTTP; "
            "check the token and host for stray characters"
        )
    if isinstance(error, httpx.UnsupportedProtocol):
        return f"cannot send requests to {where}: its URL scheme is neither http nor https"
    if isinstance(error, httpx.DecodingError):
        return f"{where} sent an answer whose body could not be decoded"
    if isinstance(error, httpx.TooManyRedirects):
        return f"{where} redirected too many times"
    if isinstance(error, httpx.HTTPStatusError):
        return f"{where} answered HTTP {error.response.status_code}"
    if isinstance(error, httpx.TimeoutException):
        return f"timed out talking to {where}"
    if isinstance(error, httpx.ProtocolError):
        return f"the HTTP exchange with {where} went wrong (protocol error)"
    if isinstance(error, httpx.NetworkError):
        return f"the network connection to {where} failed{_errno(causes)}"
    return f"could not talk to {where} (transport error)"


def is_permanent(error: httpx.HTTPError) -> bool:
    """True when retrying cannot help: an untrusted certificate, a name that does not exist,
    a request that cannot be encoded, a proxy that refuses the tunnel outright."""
    if isinstance(error, httpx.LocalProtocolError | httpx.UnsupportedProtocol):
        return True
    if isinstance(error, httpx.ProxyError) and _status(error) in ("HTTP 403", "HTTP 407"):
        return True  # the proxy wants credentials or forbids the host: asking again won't help
    for cause in _causes(error):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        if isinstance(cause, socket.gaierror) and cause.errno == socket.EAI_NONAME:
            return True
    return False


def _certificate_message(
    cert: ssl.SSLCertVerificationError, *, url: httpx.URL, network: Network
) -> str:
    host = url.host
    trusted = (
        f" (trusted now: the bundles in {', '.join(network.ca_variables)})"
        if network.ca_variables
        else ""
    )
    code = cert.verify_code
    detail = str(cert.verify_message or "verification failed")
    if code in _HOSTNAME_MISMATCH or "mismatch" in detail.lower():
        return (
            f"TLS certificate presented for {host} is for another host name (hostname "
            "mismatch); check the workspace host, or, if a proxy re-signs TLS, "
            f"{_CA_HINT}{trusted}"
        )
    if code in _UNTRUSTED:
        return (
            f"TLS certificate of {host} is not trusted ({detail}); if a proxy or private CA "
            f"signs it, {_CA_HINT}{trusted}"
        )
    return f"TLS certificate of {host} failed verification ({detail}); {_CA_HINT}{trusted}"


def _connect_message(causes: list[BaseException], *, where: str, network: Network) -> str:
    dns = _first(causes, socket.gaierror)
    refused = _first(causes, ConnectionRefusedError)
    if network.proxy is not None:
        # With a proxy, the client only ever connects to the proxy: these are about it.
        proxy = f"proxy {network.proxy_shown} ({network.proxy_variable})"
        if dns is not None:
            return f"could not resolve the host name of {proxy}; check {network.proxy_variable}"
        if refused is not None:
            return (
                f"{proxy} refused the connection; check {network.proxy_variable}, or set "
                f"NO_PROXY to reach {where} directly"
            )
        return f"could not connect to {proxy}{_errno(causes)}"
    if dns is not None:
        if dns.errno == socket.EAI_AGAIN:
            return f"temporary failure resolving the host name of {where}; check DNS"
        return (
            f"could not resolve the host name of {where}; check the workspace host "
            "(DATABRICKS_HOST, the profile or the target)"
        )
    if refused is not None:
        return f"{where} refused the connection; check the workspace host and port"
    return f"could not connect to {where}{_errno(causes)}"


def _causes(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen and len(seen) < 32:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _first(causes: list[BaseException], kind: type[_E]) -> _E | None:
    return next((c for c in causes if isinstance(c, kind)), None)


def _errno(causes: list[BaseException]) -> str:
    for cause in causes:
        if isinstance(cause, OSError) and cause.strerror:
            return f" ({cause.strerror.lower()})"
    return ""


def _status(error: httpx.HTTPError) -> str:
    # httpcore words a refused CONNECT as "<status> <reason>"; keep only the number.
    code = str(error).strip()[:3]
    return f"HTTP {code}" if code.isdigit() else "no status given"


def _host_port(url: httpx.URL) -> str:
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{host}:{url.port}" if url.port else host
