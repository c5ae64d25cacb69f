"""Start-up: a command imports its own module only, and offline commands never load the client.

`servingops --help` and a name that is no command still see every command.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import click

import servingops.cli
from servingops.cli import cli


def test_every_command_a_module_registers_is_listed() -> None:
    for info in pkgutil.iter_modules(servingops.cli.__path__):
        importlib.import_module(f"servingops.cli.{info.name}")
    with click.Context(cli) as ctx:
        assert cli.list_commands(ctx) == sorted(cli.commands)


def test_offline_commands_load_neither_the_client_nor_the_other_commands(tmp_path: Path) -> None:
    (tmp_path / "servingops.yaml").write_text("endpoints: endpoints/\n")
    (tmp_path / "endpoints").mkdir()
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from servingops.cli import Settings, main\n"
        "settings = Settings(cwd=Path(sys.argv[1]), env={}, home=Path(sys.argv[1]))\n"
        "codes = [main(['validate'], settings=settings), main(['targets'], settings=settings)]\n"
        "print(json.dumps([codes, sorted(sys.modules)]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=True
    )
    codes, modules = json.loads(done.stdout.splitlines()[-1])
    assert codes == [0, 0]
    loaded = set(modules)
    assert not loaded & {"httpx", "asyncio", "servingops.client", "servingops.engine"}
    commands = {m for m in loaded if m.startswith("servingops.cli.")}
    assert commands == {
        "servingops.cli.common",
        "servingops.cli.targets",
        "servingops.cli.validate",
    }


def test_a_mistyped_command_still_gets_the_nearest_name() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "servingops", "pla"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 64
    assert "No such command 'pla'. Did you mean 'plan'?" in done.stderr
