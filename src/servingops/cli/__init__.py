"""The command line: parses options, composes the stages, prints, and owns the exit codes.

This package is the only place that echoes, prompts or exits. Each subcommand lives in its own
module, registers itself on `cli`, and returns its exit code; `main()` turns exceptions into
exit codes (see EXIT_* below and the README's table).
"""

from __future__ import annotations

import importlib
import os
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .. import __version__
from ..errors import ConfigError, ReconcilerError

if TYPE_CHECKING:  # annotations only: a command that needs neither does not import them
    import httpx

    from ..waiting import ApplyRuntime

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_STALE = 3
EXIT_TIMEOUT = 4
EXIT_USAGE = 64
EXIT_BUG = 70
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


@dataclass(kw_only=True)
class Settings:
    """Process-level facts resolved once: where to look, what environment, and test seams.

    `transport` replaces the network for every workspace the command talks to (tests pass the
    in-process emulator); `env` defaults to os.environ; `home` is where ~/.databrickscfg lives;
    `wall_clock` (epoch seconds) stamps when live state was read (tests pass the emulator's);
    `runtime` supplies apply's and wait's sleep, clocks and write budget (None: the real clock).
    """

    cwd: Path = field(default_factory=Path.cwd)
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    home: Path = field(default_factory=Path.home)
    transport: httpx.AsyncBaseTransport | None = None
    color: bool | None = None
    interactive: bool | None = None
    runtime: ApplyRuntime | None = None
    wall_clock: Callable[[], float] = time.time

    def use_color(self, stream: Any = None) -> bool:
        if self.color is not None:
            return self.color
        if "NO_COLOR" in self.env:
            return False
        stream = stream or sys.stdout
        return bool(getattr(stream, "isatty", lambda: False)())

    def is_interactive(self) -> bool:
        if self.interactive is not None:
            return self.interactive
        return sys.stdin.isatty() and sys.stdout.isatty()


# Each subcommand lives in its own module, which registers it on `cli` when imported. A module is
# imported only when its command runs (help, or a name that is no command, imports them all), so
# no command pays at start-up for the others' imports: apply's alone take ~50 ms.
_MODULES = {
    "apply": "apply",
    "ci": "ci",
    "drift": "planning",
    "emulator": "emulator",
    "export": "export",
    "init": "init",
    "logs": "logs",
    "openapi": "openapi",
    "plan": "planning",
    "query": "query",
    "show": "show",
    "status": "status",
    "targets": "targets",
    "tour": "tour",
    "validate": "validate",
    "wait": "wait",
}


class _Commands(click.Group):
    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        # An unknown name loads every command, so click can still suggest the nearest one.
        module = _MODULES.get(cmd_name)
        for name in [module] if module else sorted(set(_MODULES.values())):
            importlib.import_module(f"{__name__}.{name}")
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_MODULES)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="servingops")
@click.option("--no-color", is_flag=True, help="Never colour output (NO_COLOR is respected too).")
@click.pass_context
def cli(ctx: click.Context, no_color: bool) -> None:
    """Declarative GitOps for Databricks Model Serving endpoints."""
    if ctx.obj is None:
        ctx.obj = Settings()
    if no_color:
        ctx.obj.color = False


def echo_diagnostics_error(err: ConfigError) -> None:
    from ..render import diagnostics as diag_view

    text = diag_view.render_text(err.diagnostics, summary=False)  # main() prints the count
    if text:
        click.echo(text, err=True)


def main(argv: Sequence[str] | None = None, *, settings: Settings | None = None) -> int:
    """Run one command and return its exit code (the console script passes it to sys.exit)."""
    try:
        rv = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="servingops",
            standalone_mode=False,
            obj=settings,
        )
    except click.exceptions.Exit as e:  # --help / --version
        return int(e.exit_code or 0)
    except click.UsageError as e:  # click's own exit 2 would collide with "changes present"
        e.show()
        return EXIT_USAGE
    except click.Abort:
        click.echo("Interrupted.", err=True)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return EXIT_INTERRUPTED
    except ConfigError as e:
        echo_diagnostics_error(e)
        click.echo(f"error: {e}", err=True)
        return e.exit_code
    except ReconcilerError as e:
        click.echo(f"error: {e}", err=True)
        return e.exit_code
    except OSError as e:  # a file or folder that cannot be written or read (plan --out, export)
        where = f"{e.filename}: " if e.filename else ""
        click.echo(f"error: {where}{e.strerror or e}", err=True)
        return EXIT_ERROR
    except Exception:  # a bug: say so, show where, and use a code no user error uses
        click.echo(
            "error: servingops hit an internal bug; please report it with the traceback below.",
            err=True,
        )
        traceback.print_exc()
        return EXIT_BUG
    return int(rv or EXIT_OK)
