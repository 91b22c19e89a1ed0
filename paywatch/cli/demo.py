"""`paywatch demo`: everything on one machine, one payment start to finish, then keep going."""

from __future__ import annotations

import argparse
import asyncio

from paywatch.cli.common import add_command, settings_or_exit
from paywatch.demo import demo


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = add_command(commands, "demo", "Run paywatch with simnet and a webhook receiver, "
                         "make and pay one payment, print its timeline, keep running.", _demo)
    parser.add_argument("--once", action="store_true",
                        help="exit 0 once the payment's webhooks arrived (1 after a minute)")
    parser.add_argument("--port", type=int, default=8080, help="API port (next free if taken)")


def _demo(args: argparse.Namespace) -> int:
    settings = settings_or_exit()
    try:
        return asyncio.run(demo(settings, args.once, args.port))
    except KeyboardInterrupt:
        return 0
