"""`paywatch` command line. Exit codes: 0 ok, 1 the operation failed, 2 bad usage or config.

Every command's parser is built at each start, so a command module imports at its top only
what its arguments need; what only its work needs (the daemon, the demo, doctor, every chain's
client) is imported in its handler. `paywatch stores create` then loads in a third of the
time `paywatch run` does (the test suite starts `paywatch` a few hundred times)."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence

from paywatch import __version__
from paywatch.cli import admin, config, demo, doctor, export, migrate, run

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="paywatch",
        description="Self-hosted, watch-only crypto payment watcher (Solana Pay, EVM).",
        epilog="Configuration comes from PAYWATCH_* environment variables and ./.env; "
               "see `paywatch config show`.",
    )
    parser.add_argument("--version", action="version", version=f"paywatch {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run.add_parser(commands)
    demo.add_parser(commands)
    migrate.add_parser(commands)
    admin.add_parsers(commands)
    config.add_parser(commands)
    doctor.add_parser(commands)
    export.add_parser(commands)
    _add_simnet(commands)
    return parser


def _add_simnet(commands: argparse._SubParsersAction) -> None:
    if importlib.util.find_spec("simnet") is None:
        return  # simnet is optional at run time (a production image may leave it out)
    from paywatch.cli.simnet import add_simnet_parser

    add_simnet_parser(commands)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
