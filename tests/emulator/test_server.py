"""Serving over HTTP: the thread helper, both command lines, and the package's independence."""

from __future__ import annotations

import ast
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from serving_emulator import Emulator, EmulatorConfig, serve_in_thread
from serving_emulator.__main__ import main as emulator_main
from servingops.cli import main as servingops_main
from tests.netsupport import free_port

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "serving_emulator"


def test_serve_in_thread_answers_http_and_stops() -> None:
    with Emulator(EmulatorConfig(update_seconds=0)) as emu:
        with serve_in_thread(emu) as url:
            assert url.startswith("http://127.0.0.1:")
            headers = {"Authorization": "Bearer t"}
            r = httpx.post(f"{url}/api/2.0/serving-endpoints", json={"name": "x"}, headers=headers)
            assert r.status_code == 200
            assert (
                httpx.get(f"{url}/api/2.0/serving-endpoints/x", headers=headers).json()["name"]
                == "x"
            )
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{url}/api/2.0/serving-endpoints", headers=headers, timeout=2)


def test_serve_in_thread_refuses_non_loopback() -> None:
    with (
        Emulator() as emu,
        pytest.raises(ValueError, match="loopback"),
        serve_in_thread(emu, host="0.0.0.0"),
    ):
        pass


@pytest.mark.parametrize(
    "args",
    [["--host", "0.0.0.0"], ["--write-budget", "lots"], ["--users", "/nonexistent/users.yaml"]],
)
def test_command_lines_reject_bad_options(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert servingops_main(["emulator", "serve", *args]) == 64
    assert "error:" in capsys.readouterr().err
    assert emulator_main(args) == 64
    assert "error:" in capsys.readouterr().err


def test_python_dash_m_serves_logs_requests_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "serving_emulator",
            "--port",
            str(port),
            "--db",
            str(tmp_path / "ws.db"),
            "--update-seconds",
            "0",
            "--entity-fault",
            "x/a:error_rate=1,latency_ms=10",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                r = httpx.get(
                    f"{url}/api/2.0/serving-endpoints",
                    headers={"Authorization": "Bearer t"},
                    timeout=1,
                )
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.05)
        assert r.json() == {"endpoints": []}
        # The --entity-fault option reaches the served workspace.
        headers = {"Authorization": "Bearer t"}
        body = {
            "name": "x",
            "config": {
                "served_entities": [
                    {
                        "name": "a",
                        "entity_name": "m",
                        "entity_version": "1",
                        "scale_to_zero_enabled": False,
                    }
                ]
            },
        }
        assert httpx.post(f"{url}/api/2.0/serving-endpoints", json=body, headers=headers).is_success
        r = httpx.post(
            f"{url}/serving-endpoints/x/invocations", json={"inputs": [1]}, headers=headers
        )
        assert r.json()["error_code"] == "INTERNAL_ERROR"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert f"http://127.0.0.1:{port}" in out.splitlines()[0]
    assert "GET /api/2.0/serving-endpoints" in out


def test_the_emulator_imports_nothing_from_servingops() -> None:
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(n.split(".")[0] == "servingops" for n in names), path.name
