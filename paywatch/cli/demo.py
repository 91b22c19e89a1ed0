"""`paywatch demo`: everything on one machine, one payment start to finish, then keep going."""

from __future__ import annotations

import argparse

from paywatch.cli.common import add_command, settings_or_exit
from paywatch.logs import configure_logging


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = add_command(commands, "demo", "Run paywatch with simnet and a webhook receiver, "
                         "make and pay one payment, print its timeline, keep running.", _demo)
    parser.add_argument("--once", action="store_true",
                        help="exit 0 once the payment's webhooks arrived (1 after a minute)")
    parser.add_argument("--port", type=int, default=8080, help="API port (next free if taken)")
    parser.add_argument("--rpc-port", type=int, default=None,
                        help="simnet's JSON-RPC port (default: 8899 if free, else any free port;"
                             " 0: any free port)")
    parser.add_argument("--ws-port", type=int, default=None,
                        help="simnet's PubSub port (default: 8900 if free, else any free port)")
    parser.add_argument("--verbose", action="store_true",
                        help="also print the daemon's INFO logs (default: warnings only)")


def _demo(args: argparse.Namespace) -> int:
    from paywatch.demo import DemoOptions, run_demo  # the whole daemon: only for this command

    settings = settings_or_exit()
    # The demo is for reading its timeline: the daemon beside it speaks only to warn.
    configure_logging("INFO" if args.verbose else "WARNING", settings.log_format)
    return run_demo(settings, DemoOptions(once=args.once, api_port=args.port,
                                          rpc_port=args.rpc_port, ws_port=args.ws_port))
