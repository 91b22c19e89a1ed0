"""`paywatch config show`: the effective configuration, secrets masked."""

from __future__ import annotations

import argparse
import json

from paywatch.cli.common import add_command, settings_or_exit


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("config", help="Show the effective configuration.")
    sub = parser.add_subparsers(dest="config_command", metavar="SUBCOMMAND", required=True)
    show = add_command(sub, "show", "Print the effective configuration (secrets masked).", _show)
    show.add_argument("--json", action="store_true", help="print JSON instead of KEY=value")


def _show(args: argparse.Namespace) -> int:
    view = settings_or_exit().public_view()
    if args.json:
        print(json.dumps(view, indent=2))
    else:
        for key, value in view.items():
            shown = value if isinstance(value, str) else json.dumps(value)
            print(f"{key}={'' if value is None else shown}")
    return 0
