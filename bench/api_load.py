"""API throughput: POST /v1/payments and GET /v1/payments/{id} under load from wrk, a separate
process, against a real `paywatch run` (one process) on PostgreSQL, side by side with a bare
aiohttp server answering the same routes (bench/bare_aiohttp.py: the ceiling on this machine).

    apt-get install wrk   # the load generator (Debian package)
    .venv/bin/python bench/api_load.py [--connections 1,8,32,128] [--seconds 10]

Uses PAYWATCH_DATABASE_URL when set, else an embedded PostgreSQL in a temporary directory.
Prints requests/second and latency per endpoint and concurrency, and paywatch / bare as a
ratio; asserts nothing."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent
RECIPIENT = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"
POST_LUA = """
wrk.method = "POST"
wrk.body = '{"amount": "25.00", "currency": "USD", "asset": "SOL", "memo": "bench"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
"""
GET_LUA = """
wrk.headers["Authorization"] = "Bearer %s"
"""


def paywatch(env: dict[str, str], *args: str) -> str:
    return subprocess.run([str(BIN / "paywatch"), *args], env=env, check=True,
                          capture_output=True, text=True).stdout


def wait_ready(url: str) -> None:
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=1) as r:  # noqa: S310
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("paywatch did not become ready")


def wrk(url: str, lua: str, connections: int, seconds: int) -> tuple[float, str, str]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    threads = min(2, connections)  # wrk wants at least one connection per thread
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s",
                          "--latency", "-s", script.name, url], capture_output=True, text=True,
                         check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)  # type: ignore[union-attr]
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        print(f"  warning: {errors.group(1)} non-2xx responses")
    return rps, p50, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", default="1,8,32,128")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--port", type=int, default=18090)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    data = tempfile.mkdtemp(prefix="pw-bench-")
    env = {**os.environ, "PAYWATCH_DATA_DIR": data, "PAYWATCH_API_PORT": str(args.port),
           "PAYWATCH_API_RATE_LIMIT_PER_MINUTE": "100000000", "PAYWATCH_LOG_LEVEL": "WARNING",
           "PAYWATCH_SOLANA_WATCH": "false"}  # no chain here: /readyz would wait for one
    slug = f"bench-{int(time.time())}"
    daemon = subprocess.Popen([str(BIN / "paywatch"), "run"], env=env)
    bare_port = args.port + 1
    bare = subprocess.Popen([sys.executable, str(Path(__file__).with_name("bare_aiohttp.py")),
                             str(bare_port)])
    base = f"http://127.0.0.1:{args.port}"
    try:
        wait_ready(base)
        paywatch(env, "stores", "create", slug, "--solana-recipient", RECIPIENT)
        key = paywatch(env, "keys", "create", "--store", slug).splitlines()[0]
        req = urllib.request.Request(f"{base}/v1/payments", method="POST", headers={  # noqa: S310
            "Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            data=b'{"amount": "25", "currency": "USD", "asset": "SOL"}')
        with urllib.request.urlopen(req) as resp:  # noqa: S310
            payment_id = json.load(resp)["id"]
        print(f"paywatch run (1 process), wrk -t2, {args.seconds} s per run, "
              f"{os.cpu_count()} cores")
        print(f"{'endpoint':<24}{'conns':>6}{'req/s':>9}{'p50':>10}{'p99':>10}"
              f"{'bare req/s':>12}{'ratio':>8}")
        bare_base = f"http://127.0.0.1:{bare_port}"
        for conns in (int(c) for c in args.connections.split(",")):
            for name, path, lua in (
                    ("POST /v1/payments", "/v1/payments", POST_LUA % key),
                    ("GET /v1/payments/{id}", f"/v1/payments/{payment_id}", GET_LUA % key)):
                rps, p50, p99 = wrk(base + path, lua, conns, args.seconds)
                ceiling, _, _ = wrk(bare_base + path, lua, conns, args.seconds)
                print(f"{name:<24}{conns:>6}{rps:>9.0f}{p50:>10}{p99:>10}{ceiling:>12.0f}"
                      f"{rps / ceiling:>8.2f}")
    finally:
        daemon.send_signal(signal.SIGTERM)
        bare.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
        bare.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
