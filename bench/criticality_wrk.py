"""``wrk`` (C, keep-alive, one thread) against ``/secapp/update``: cheap load, so the server gets the CPU.

GETs rotate over the consumer apps' names; POSTs over 64 prepared bodies.
With a per-request delay, each connection paces itself, which approximates a
fixed rate (the rate reached is reported, so a server that falls behind shows).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

LUA = r"""
local method = os.getenv("BENCH_METHOD")
local token = os.getenv("BENCH_TOKEN")
local apps = tonumber(os.getenv("BENCH_APPS"))
local pause = tonumber(os.getenv("BENCH_DELAY_MS"))
local pool, index, threads = {}, 0, {}
states = 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  if method == "GET" then
    for n = 1, apps do
      local headers = {["App-name"] = string.format("consumer-%02d", n - 1), ["token"] = token}
      pool[n] = wrk.format("GET", "/secapp/update", headers)
    end
    return
  end
  for n = 1, 64 do
    local headers = {["App-name"] = string.format("producer-%d", n % 5), ["token"] = token,
      ["Content-Type"] = "application/json"}
    local body = string.format('{"current_status": %d, "Change_at": "2024-05-01T10:%02d:%02dZ"}',
      1 + n % 5, n % 60, n % 60)
    pool[n] = wrk.format("POST", "/secapp/update", headers, body)
  end
end

function request()
  index = index % #pool + 1
  return pool[index]
end

function delay()
  return pause
end

function response(status, headers, body)
  if status == 200 and body ~= "{}" and method == "GET" then states = states + 1 end
end

function done(summary, latency, requests)
  local told = 0
  for _, thread in ipairs(threads) do told = told + thread:get("states") end
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p99_us": %d, "max_us": %d, "states": %d}\n', summary.requests, summary.duration, e.status,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99), latency.max, told))
end
"""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    states: int

    def row(self, name: str) -> str:
        return (
            f"| {name} | {self.requests} | {self.requests / self.seconds:,.0f} | {self.p50_ms:.1f} | "
            f"{self.p99_ms:.1f} | {self.max_ms:.1f} | {self.errors} | {self.states} |"
        )


def available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(
    url: str, *, method: str, token: str, apps: int, connections: int, seconds: float, delay_ms: int = 0
) -> WrkResult:
    """One wrk run; ``delay_ms`` makes each connection wait that long between its requests."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "secapp.lua"
        script.write_text(LUA)
        env = {
            **os.environ,
            "BENCH_METHOD": method,
            "BENCH_TOKEN": token,
            "BENCH_APPS": str(apps),
            "BENCH_DELAY_MS": str(delay_ms),
        }
        args = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s"]
        done = subprocess.run(
            [*args, "-s", str(script), f"{url}/secapp/update"],
            env=env,
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=True,
        )
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    raw = json.loads(line.removeprefix("RESULT "))
    return WrkResult(
        requests=raw["requests"],
        errors=raw["non_2xx"] + raw["socket_errors"],
        seconds=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        states=raw["states"],
    )
