"""Fakes for client tests: a retry clock that never sleeps, and loopback network fakes (a tiny
HTTP proxy, a small TLS workspace, a JSON answering machine).

The servers bind 127.0.0.1 on a free port, serve from daemon threads, time out idle sockets, and
stop when their `with` block ends. Nothing here reaches another address.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

IDLE_SECONDS = 10.0


def free_port() -> int:
    """A loopback port nothing listens on (free when asked)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeTime:
    """The client's retry clock and sleep: time moves only when the client sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


_Server = TypeVar("_Server", bound=socketserver.BaseServer)


@contextlib.contextmanager
def _serving(server: _Server) -> Iterator[_Server]:
    """Serve `server` from a daemon thread until the block ends, then close it."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _send_json(handler: BaseHTTPRequestHandler, status: int, payload: Mapping[str, Any]) -> None:
    body = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@dataclass
class ProxyLog:
    """What the proxy was asked to do, in order: ("CONNECT", "host:port") or ("GET", url)."""

    requests: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, method: str, target: str) -> None:
        with self.lock:
            self.requests.append((method, target))

    @property
    def tunnels(self) -> list[str]:
        return [target for method, target in self.requests if method == "CONNECT"]


class _ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, routes: Mapping[str, tuple[str, int]], refuse: int | None) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.log = ProxyLog()
        self.routes = dict(routes)
        self.refuse = refuse

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up mid-tunnel is normal here


class _ProxyHandler(socketserver.StreamRequestHandler):
    server: _ProxyServer
    timeout = IDLE_SECONDS

    def handle(self) -> None:
        head = self._read_head()
        if head is None:
            return
        method, target, headers, raw = head
        self.server.log.add(method, target)
        if self.server.refuse is not None:
            status = self.server.refuse
            self.wfile.write(
                f"HTTP/1.1 {status} Refused by test proxy\r\nContent-Length: 0\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream = self._connect(host, int(port))
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.wfile.flush()
            self._pump(upstream)
            return
        # Absolute-form request (plain http through a forward proxy): relay it in origin form.
        rest = target.split("://", 1)[1]
        authority, _, path = rest.partition("/")
        host, _, port = authority.rpartition(":")
        upstream = self._connect(host, int(port or 80))
        body = b""
        length = int(headers.get("content-length", "0"))
        if length:
            body = self.rfile.read(length)
        lines = raw.split(b"\r\n")
        lines[0] = f"{method} /{path} HTTP/1.1".encode()
        kept = [line for line in lines[1:] if not line.lower().startswith(b"connection:")]
        request = b"\r\n".join([lines[0], *kept[:-2], b"Connection: close", b"", b""]) + body
        upstream.sendall(request)
        self._pump(upstream)

    def _read_head(self) -> tuple[str, str, dict[str, str], bytes] | None:
        raw = b""
        while not raw.endswith(b"\r\n\r\n"):
            line = self.rfile.readline(65536)
            if not line:
                return None
            raw += line
        first, *rest = raw.decode("latin-1").split("\r\n")
        method, target, _ = first.split(" ", 2)
        headers: dict[str, str] = {}
        for text in rest:
            name, sep, value = text.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        return method, target, headers, raw

    def _connect(self, host: str, port: int) -> socket.socket:
        host, port = self.server.routes.get(host, (host, port))
        return socket.create_connection((host, port), timeout=IDLE_SECONDS)

    def _pump(self, upstream: socket.socket) -> None:
        client = self.connection
        with upstream:
            sockets = [client, upstream]
            while True:
                readable, _, _ = select.select(sockets, [], [], IDLE_SECONDS)
                if not readable:
                    return
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is client else client).sendall(data)


@contextlib.contextmanager
def http_proxy(
    *, routes: Mapping[str, tuple[str, int]] | None = None, refuse: int | None = None
) -> Iterator[tuple[str, ProxyLog]]:
    """A CONNECT and forward proxy on 127.0.0.1; yields (its URL, its log).

    `routes` maps host names the client asks for to a loopback address, so a name that
    resolves nowhere is reachable only through the proxy. `refuse` answers every request with
    that status instead (e.g. 407).
    """
    with _serving(_ProxyServer(routes or {}, refuse)) as server:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.log


# -- a small TLS workspace ---------------------------------------------------------------------


@dataclass
class WorkspaceLog:
    """The requests the TLS workspace answered: (method, path, Authorization header)."""

    requests: list[tuple[str, str, str]] = field(default_factory=list)


class _TlsServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, context: ssl.SSLContext | None, token_host: str | None) -> None:
        super().__init__(("127.0.0.1", 0), _WorkspaceHandler)
        self.context = context
        self.log = WorkspaceLog()
        self.token_host = token_host

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        sock.settimeout(IDLE_SECONDS)
        if self.context is None:
            return sock, address
        # The handshake runs in the handler's thread, so a client that rejects the
        # certificate cannot stall the accept loop.
        tls = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return tls, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # failed handshakes are what some tests are about


class _WorkspaceHandler(BaseHTTPRequestHandler):
    server: _TlsServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, payload: Mapping[str, Any], status: int = 200) -> None:
        _send_json(self, status, payload)

    def do_GET(self) -> None:
        self.server.log.requests.append(("GET", self.path, self.headers.get("Authorization", "")))
        if self.path == "/api/2.0/serving-endpoints":
            self._answer({"endpoints": [{"name": "via-tls"}]})
        elif self.path == "/oidc/.well-known/oauth-authorization-server":
            host = self.server.token_host or self.headers["Host"]
            self._answer({"token_endpoint": f"https://{host}/oidc/v1/token"})
        elif self.path == "/api/2.0/preview/scim/v2/Me":
            self._answer({"userName": "sp"})
        else:
            self._answer({"error_code": "ENDPOINT_NOT_FOUND", "message": "no"}, 404)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        self.server.log.requests.append(("POST", self.path, self.headers.get("Authorization", "")))
        if self.path == "/oidc/v1/token":
            self._answer({"access_token": "tls-oauth", "token_type": "Bearer", "expires_in": 3600})
        else:
            self._answer({"error_code": "ENDPOINT_NOT_FOUND", "message": "no"}, 404)


@contextlib.contextmanager
def tls_workspace(
    server_context: ssl.SSLContext | None, *, token_host: str | None = None
) -> Iterator[tuple[int, WorkspaceLog]]:
    """A TLS server on 127.0.0.1 answering the few workspace calls the client tests make
    (plain HTTP when `server_context` is None).

    Yields (its port, its log). `token_host` makes OAuth discovery name a token endpoint on
    another host (the client must refuse to send a client secret there).
    """
    with _serving(_TlsServer(server_context, token_host)) as server:
        yield server.server_address[1], server.log


# -- a JSON answering machine ------------------------------------------------------------------

# answer(path, headers) -> (status, JSON body)
Answer = Callable[[str, dict[str, str]], tuple[int, Mapping[str, Any]]]


class _JsonServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, answer: Answer) -> None:
        super().__init__(("127.0.0.1", 0), _JsonHandler)
        self.answer = answer
        self.seen: list[tuple[str, dict[str, str]]] = []


class _JsonHandler(BaseHTTPRequestHandler):
    server: _JsonServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.seen.append((self.path, headers))
        _send_json(self, *self.server.answer(self.path, headers))


@contextlib.contextmanager
def json_server(answer: Answer) -> Iterator[tuple[str, list[tuple[str, dict[str, str]]]]]:
    """A GET-only HTTP server on 127.0.0.1 whose `answer(path, headers)` returns (status, JSON).

    Yields (its base URL, the (path, headers) it was asked for).
    """
    with _serving(_JsonServer(answer)) as server:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.seen
