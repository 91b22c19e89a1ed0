"""`paywatch doctor [--json]`: every dependency checked, one line each; exit 1 on a failure."""

from __future__ import annotations

import argparse
import asyncio

from paywatch.cli.common import add_command
from paywatch.core.settings import SettingsError, load_settings
from paywatch.logs import configure_logging


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = add_command(commands, "doctor", "Check the configuration, the database and its "
                         "migrations, every chain's RPC and WebSocket (and their network), the "
                         "price sources, the webhook endpoints and the public URL. Exit 1 when "
                         "any check fails.", _doctor)
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")


def _doctor(args: argparse.Namespace) -> int:
    from paywatch.doctor import Check, as_json, as_lines, diagnose, fail  # see cli/__init__

    try:
        settings = load_settings()
    except SettingsError as exc:
        checks = [fail("configuration", line, "fix this PAYWATCH_* variable (README: "
                       "Configuration)") for line in exc.lines]
    else:
        # Quiet: the report is the output; library and startup chatter would interleave.
        configure_logging("ERROR", settings.log_format)
        checks = [Check("configuration", "ok", "PAYWATCH_* settings are valid"),
                  *asyncio.run(diagnose(settings))]
    print(as_json(checks) if args.json else "\n".join(as_lines(checks)))
    return 1 if any(c.status == "fail" for c in checks) else 0


