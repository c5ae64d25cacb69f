"""`servingops emulator serve`: run the local Databricks serving API emulator over HTTP."""

from __future__ import annotations

import click

from . import EXIT_ERROR, EXIT_USAGE, cli

# The same defaults as serving_emulator.server; the emulator (Starlette, uvicorn) is imported
# only when this command runs, so other commands do not pay ~0.1 s to load it at start-up.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


@cli.group("emulator")
def emulator() -> None:
    """A local emulation of the Databricks Model Serving API (for trials and tests)."""


@emulator.command("serve")
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Bind address.")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True)
@click.option(
    "--db", default=":memory:", show_default=True, help="SQLite file for the state, or :memory:."
)
@click.option(
    "--update-seconds",
    type=float,
    default=10.0,
    show_default=True,
    help="How long a config rollout stays IN_PROGRESS.",
)
@click.option("--latency-ms", type=float, default=0.0, show_default=True, help="Added delay.")
@click.option(
    "--fault-rate",
    type=click.FloatRange(0.0, 1.0),
    default=0.0,
    show_default=True,
    help="Fraction of requests answered 429/500/503 at random.",
)
@click.option("--users", default=None, help="Users file (YAML/JSON) mapping tokens to people.")
@click.option(
    "--objects",
    default=None,
    help="Objects file (YAML): Unity Catalog models, secret scopes, groups, users, principals.",
)
@click.option(
    "--write-budget",
    default="50/300",
    show_default=True,
    help="Create/update calls allowed per window: N or N/SECONDS; 0 disables.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for faults, routing.")
@click.option(
    "--shuffle-seed", type=int, default=None, help="Seed for list order (default --seed)."
)
@click.option("--fail-updates", is_flag=True, help="Make every config rollout fail.")
@click.option(
    "--entity-fault",
    "entity_faults",
    multiple=True,
    metavar="TARGET:error_rate=R,latency_ms=MS",
    help="Make a served entity misbehave (TARGET: ENDPOINT/ENTITY or MODEL@VERSION); "
    "repeatable. Change it at run time with PUT /_emulator/entity-faults/TARGET.",
)
@click.option("--allow-remote", is_flag=True, help="Allow binding a non-loopback address.")
def serve_command(
    host: str,
    port: int,
    db: str,
    update_seconds: float,
    latency_ms: float,
    fault_rate: float,
    users: str | None,
    objects: str | None,
    write_budget: str,
    seed: int,
    shuffle_seed: int | None,
    fail_updates: bool,
    entity_faults: tuple[str, ...],
    allow_remote: bool,
) -> int:
    """Serve an emulated workspace until Ctrl-C (one log line per request)."""
    from serving_emulator.server import ListenError, serve

    try:
        return serve(
            host=host,
            port=port,
            db=db,
            update_seconds=update_seconds,
            latency_ms=latency_ms,
            fault_rate=fault_rate,
            users=users,
            objects=objects,
            write_budget=write_budget,
            seed=seed,
            shuffle_seed=shuffle_seed,
            fail_updates=fail_updates,
            entity_faults=entity_faults,
            allow_remote=allow_remote,
            announce=click.echo,
        )
    except ValueError as e:
        click.echo(f"error: {e}", err=True)
        return EXIT_USAGE
    except ListenError as e:
        click.echo(f"error: the emulator could not start ({e}); choose another --port", err=True)
        return EXIT_ERROR
