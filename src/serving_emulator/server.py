"""Serving an `Emulator` over HTTP with uvicorn: foreground (`run`) or in a thread for tests."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import uvicorn

from .accesslog import AccessLog
from .config import EntityFault
from .emulator import Emulator

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def is_loopback(host: str) -> bool:
    """True for loopback addresses and `localhost`."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_write_budget(text: str) -> tuple[int, float]:
    """`N` or `N/SECONDS` (e.g. `50/300`) -> (calls, seconds); `0` disables the budget."""
    calls_text, _, seconds_text = text.partition("/")
    try:
        calls = int(calls_text)
        seconds = float(seconds_text) if seconds_text else 300.0
    except ValueError:
        raise ValueError(f"write budget must look like N or N/SECONDS, got {text!r}") from None
    if calls < 0 or seconds < 0:
        raise ValueError("write budget values must be >= 0")
    return calls, seconds


def parse_entity_fault(text: str) -> tuple[str, EntityFault]:
    """`TARGET:error_rate=R,latency_ms=MS` (either setting may be left out) -> (target, fault).

    TARGET is `ENDPOINT/SERVED_ENTITY` or `MODEL@VERSION`, e.g.
    `fraud-scorer/challenger:error_rate=0.2,latency_ms=800` or `main.risk.fraud@8:error_rate=1`.
    """
    usage = (
        f"an entity fault must look like TARGET:error_rate=R,latency_ms=MS "
        f"(TARGET is ENDPOINT/SERVED_ENTITY or MODEL@VERSION), got {text!r}"
    )
    target, sep, spec = text.partition(":")
    if not sep or not target or not spec:
        raise ValueError(usage)
    values: dict[str, float] = {}
    for item in spec.split(","):
        key, eq, value = item.strip().partition("=")
        if not eq or key not in ("error_rate", "latency_ms") or key in values:
            raise ValueError(usage)
        try:
            values[key] = float(value)
        except ValueError:
            raise ValueError(usage) from None
    return target, EntityFault(**values)


def _config(emulator: Emulator[Any], host: str, port: int, *, access_log: bool) -> uvicorn.Config:
    return uvicorn.Config(
        # Our own access log: uvicorn's costs as much CPU per request as the request itself.
        AccessLog(emulator.app) if access_log else emulator.app,
        host=host,
        port=port,
        log_level="info" if access_log else "warning",
        access_log=False,
        lifespan="off",
        ws="none",
        timeout_graceful_shutdown=2,
    )


def run(
    emulator: Emulator[Any],
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    announce: Callable[[str], None] | None = None,
) -> int:
    """Serve in the foreground until Ctrl-C, logging one line per request; returns 0.

    Raises ListenError when the address cannot be bound (e.g. the port is in use).
    """
    sock = listen(host, port)
    server = uvicorn.Server(_config(emulator, host, port, access_log=True))
    if announce is not None:
        shown = f"[{host}]" if ":" in host else host
        announce(
            f"Emulated Databricks workspace at http://{shown}:{port} "
            "(DATABRICKS_HOST=that URL; any non-empty DATABRICKS_TOKEN works unless --users "
            "maps tokens)"
        )
    # uvicorn re-raises the Ctrl-C it handled after a clean shutdown.
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])
    return 0


class ListenError(Exception):
    """The server could not bind its address; str() says which and why."""


def listen(host: str, port: int) -> socket.socket:
    """A bound TCP socket for uvicorn to serve on.

    The explicit IPPROTO_TCP matters: asyncio only disables Nagle's algorithm on accepted
    sockets whose protocol says TCP, and without that a keep-alive answer written in two parts
    waits ~40 ms for a delayed ACK (most of the time a 25 ms-latency read took).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise ListenError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    return sock


@contextmanager
def serve_in_thread(
    emulator: Emulator[Any],
    *,
    host: str = DEFAULT_HOST,
    port: int = 0,
    startup_timeout: float = 10.0,
) -> Iterator[str]:
    """Serve `emulator` on a loopback port (0 = a free one) for the duration of the block.

    Yields the base URL. The server stops (and the thread is joined) when the block exits.
    """
    if not is_loopback(host):
        raise ValueError("serve_in_thread only binds loopback addresses")
    sock = listen(host, port)
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(_config(emulator, host, bound_port, access_log=False))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="serving-emulator", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + startup_timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the emulator server did not start")
            time.sleep(0.01)
        shown = f"[{host}]" if ":" in host else host
        yield f"http://{shown}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def serve(
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    db: str = ":memory:",
    update_seconds: float = 10.0,
    latency_ms: float = 0.0,
    fault_rate: float = 0.0,
    users: str | None = None,
    objects: str | None = None,
    write_budget: str = "50/300",
    seed: int = 0,
    shuffle_seed: int | None = None,
    fail_updates: bool = False,
    entity_faults: Sequence[str] = (),
    allow_remote: bool = False,
    announce: Callable[[str], None] | None = None,
) -> int:
    """The `serve` command shared by `servingops emulator serve` and `python -m serving_emulator`.

    Raises ValueError for unusable options (a non-loopback host without `allow_remote`, a bad
    write budget or entity fault, an unreadable users file, a bad objects file); returns the
    exit code after Ctrl-C.
    """
    from .clock import SystemClock
    from .config import EmulatorConfig

    if not allow_remote and not is_loopback(host):
        raise ValueError(
            f"refusing to bind {host}: the emulator has no real security; "
            "pass --allow-remote to serve other machines"
        )
    calls, seconds = parse_write_budget(write_budget)
    faults = dict(parse_entity_fault(text) for text in entity_faults)
    config = EmulatorConfig(
        update_seconds=update_seconds,
        latency_ms=latency_ms,
        fault_rate=fault_rate,
        fault_seed=seed,
        routing_seed=seed,
        shuffle_seed=seed if shuffle_seed is None else shuffle_seed,
        users_file=users,
        objects=objects,
        write_budget_calls=calls,
        write_budget_seconds=seconds,
        fail_updates=fail_updates,
        entity_faults=faults,
    )
    with Emulator(config, db_path=db, clock=SystemClock()) as emulator:
        return run(emulator, host=host, port=port, announce=announce)
