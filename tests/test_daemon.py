"""`paywatch run` as a real process: starts, answers, and stops cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import PAYWATCH, clean_env, free_port


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - our own localhost
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class Daemon(subprocess.Popen[str]):
    """`paywatch run` with its output in a file: a pipe nobody reads fills up and blocks the
    daemon's next log line (it hung the schemathesis run until pytest's timeout)."""

    def __init__(self, args: list[str], log: Path, **kwargs: object) -> None:
        self.log = log
        with log.open("a", encoding="utf-8") as out:  # the child keeps its own descriptor
            super().__init__(args, stdout=out, stderr=subprocess.STDOUT, text=True,
                             **kwargs)  # type: ignore[call-overload]

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def tail(self, chars: int = 4000) -> str:
        return f"--- last of {self.log} ---\n{self.output()[-chars:]}"


def _tail(proc: subprocess.Popen[str]) -> str:
    """What a failure message shows of a daemon: its log's end (or a finished pipe's text)."""
    if isinstance(proc, Daemon):
        return proc.tail()
    return proc.stderr.read() if proc.stderr and proc.poll() is not None else ""


def wait_ready(base: str, proc: subprocess.Popen[str], timeout: float = 90) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            pytest.fail(f"paywatch run exited early with {proc.returncode}: {_tail(proc)}")
        try:
            if get(f"{base}/readyz")[0] == 200:
                return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"paywatch run did not become ready: {_tail(proc)}")


def start(env: dict[str, str], cwd: Path) -> tuple[Daemon, str]:
    """Start `paywatch run` on a free port; its stdout and stderr go to cwd/paywatch-PORT.log."""
    port = free_port()
    env = {**env, "PAYWATCH_API_PORT": str(port), "PAYWATCH_LOG_FORMAT": "json"}
    proc = Daemon([PAYWATCH, "run"], cwd / f"paywatch-{port}.log", env=env, cwd=cwd)
    return proc, f"http://127.0.0.1:{port}"


def stop(proc: Daemon, sig: signal.Signals = signal.SIGTERM, timeout: float = 60) -> str:
    """Signal the daemon, wait for it to exit, return everything it wrote."""
    proc.send_signal(sig)
    proc.wait(timeout)
    return proc.output()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_the_daemon_cleanly_with_status_0(db_dsn: str, tmp_path: Path,
                                                       sig: signal.Signals) -> None:
    # No chain to watch here: a watched chain without a watcher report would keep /readyz 503.
    proc, base = start(clean_env(PAYWATCH_DATABASE_URL=db_dsn, PAYWATCH_SOLANA_WATCH="false"),
                       tmp_path)
    try:
        wait_ready(base, proc)
        err = stop(proc, sig, timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, proc.tail()
    assert '"msg": "stopped cleanly"' in err, proc.tail()
    assert "Traceback" not in err, proc.tail()


def test_cold_run_on_embedded_postgresql(tmp_path: Path, pg_home: Path) -> None:
    """The README's run command: no database configured, data kept in the data dir."""
    env = clean_env(PAYWATCH_DATA_DIR=str(pg_home / "data"), PAYWATCH_SOLANA_WATCH="false")
    proc, base = start(env, tmp_path)
    try:
        seconds = wait_ready(base, proc)
        print(f"cold start to /readyz 200: {seconds:.2f} s")
        assert get(f"{base}/healthz")[0] == 200
        status, metrics = get(f"{base}/metrics")
        assert status == 200
        assert b"paywatch_build_info" in metrics
        err = stop(proc)
    finally:
        proc.kill()
    assert proc.returncode == 0, proc.tail()
    assert '"msg": "using embedded postgresql"' in err, proc.tail()
    assert (pg_home / "data" / "postgres" / "PG_VERSION").exists()

    status = subprocess.run([PAYWATCH, "migrate", "status"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120, check=False)
    assert status.returncode == 0
    assert "0001  init" in status.stdout
    assert "applied" in status.stdout


async def test_two_handles_on_the_embedded_server_in_one_process(pg_home: Path) -> None:
    """Closing one handle must not stop the server under the other (the demo does this)."""
    from db.embedded import EmbeddedPostgres
    from db.pool import connect

    first, second = EmbeddedPostgres(pg_home), EmbeddedPostgres(pg_home)
    dsn = await first.start()
    await second.start()
    await second.stop()
    conn = await connect(dsn)
    assert await conn.fetchval("SELECT 1") == 1
    await conn.close()
    await first.stop()
