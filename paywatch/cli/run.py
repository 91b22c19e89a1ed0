"""`paywatch run`: the daemon."""

from __future__ import annotations

import argparse
import asyncio
import sys

from paywatch.cli.common import add_command, settings_or_exit
from paywatch.core.roles import ROLES


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = add_command(commands, "run", "Run the daemon: the HTTP API, scheduled jobs and "
                         "chain watchers. Stops cleanly on SIGINT/SIGTERM.", _run)
    parser.add_argument("--no-migrate", action="store_true",
                        help="do not apply pending migrations at start")
    parser.add_argument("--role", choices=ROLES, default="all",
                        help="all (default): API, jobs and watchers; api: API and jobs; "
                             "watcher: watchers and jobs (one process leads each chain)")


def _run(args: argparse.Namespace) -> int:
    import uvloop  # the daemon and its loop: imported by this command only (cli/__init__)

    from paywatch.daemon import StartupError, run_daemon

    settings = settings_or_exit()
    try:
        # uvloop: the asyncio loop's own frames (selector, handles, transports) were a tenth
        # of a loaded API's samples under py-spy (issue 20); everything the daemon runs on it
        # is the same asyncio API, and the tests and fault suite drive this very command.
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(run_daemon(settings, migrate=not args.no_migrate, role=args.role))
    except StartupError as exc:
        print(f"paywatch: refusing to start: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"paywatch: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0
