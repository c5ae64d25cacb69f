"""`python -m serving_emulator`: serve an emulated workspace (same options as
`servingops emulator serve`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .objects import ObjectsFileError
from .principals import UsersFileError
from .server import DEFAULT_HOST, DEFAULT_PORT, ListenError, serve

EXIT_USAGE = 64


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m serving_emulator",
        description="Serve a local emulation of the Databricks Model Serving REST API.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="bind address (loopback only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--db", default=":memory:", help="SQLite file, or :memory:")
    parser.add_argument("--update-seconds", type=float, default=10.0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--users", default=None, help="users file (YAML or JSON)")
    parser.add_argument(
        "--objects", default=None, help="objects file: UC models, secret scopes, principals"
    )
    parser.add_argument("--write-budget", default="50/300", help="N or N/SECONDS; 0 disables")
    parser.add_argument("--seed", type=int, default=0, help="seed for faults, routing, order")
    parser.add_argument("--shuffle-seed", type=int, default=None, help="seed for list order")
    parser.add_argument("--fail-updates", action="store_true", help="every rollout fails")
    parser.add_argument(
        "--entity-fault",
        action="append",
        default=[],
        metavar="TARGET:error_rate=R,latency_ms=MS",
        help="a served entity that misbehaves (TARGET: ENDPOINT/ENTITY or MODEL@VERSION); "
        "repeatable",
    )
    parser.add_argument("--allow-remote", action="store_true", help="allow a non-loopback host")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return serve(
            host=args.host,
            port=args.port,
            db=args.db,
            update_seconds=args.update_seconds,
            latency_ms=args.latency_ms,
            fault_rate=args.fault_rate,
            users=args.users,
            objects=args.objects,
            write_budget=args.write_budget,
            seed=args.seed,
            shuffle_seed=args.shuffle_seed,
            fail_updates=args.fail_updates,
            entity_faults=args.entity_fault,
            allow_remote=args.allow_remote,
            announce=lambda line: print(line, flush=True),
        )
    except ListenError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (ValueError, UsersFileError, ObjectsFileError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
