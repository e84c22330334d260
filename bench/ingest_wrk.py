"""Closed-loop load with ``wrk`` (C, keep-alive, one thread): the maximum accepted rate.

Each wrk thread builds 64 different request bodies once (random session ids,
``page interaction``/``pageview`` events) and sends them round-robin, so the
load generator costs almost nothing per request.
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
local batch = tonumber(os.getenv("BENCH_BATCH") or "100")
local key = os.getenv("BENCH_KEY") or ""
local requests_pool = {}
local index = 0

local function event(i)
  local sid = string.format("%08x-%04x-4%03x-a%03x-%08x%04x", math.random(0, 0x7fffffff), math.random(0, 0xffff),
    math.random(0, 0xfff), math.random(0, 0xfff), math.random(0, 0x7fffffff), math.random(0, 0xffff))
  return string.format('{"session_id":"%s","category":"page interaction","name":"pageview",' ..
    '"data":{"host":"www.example.com","path":"/p/%d"},"timestamp":"2021-01-01 09:15:27.243860"}', sid, i)
end

function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
  local headers = {["Content-Type"] = "application/json", ["X-API-Key"] = key}
  for b = 1, 64 do
    local body
    if batch == 1 then
      body = event(b)
    else
      local parts = {}
      for i = 1, batch do parts[i] = event(i) end
      body = "[" .. table.concat(parts, ",") .. "]"
    end
    requests_pool[b] = wrk.format("POST", "/v1/events", headers, body)
  end
end

function request()
  index = index % #requests_pool + 1
  return requests_pool[index]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p99_us": %d}\n', summary.requests, summary.duration, e.status,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    non_2xx: int
    socket_errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    batch: int

    @property
    def accepted_events_per_s(self) -> float:
        return (self.requests - self.non_2xx) * self.batch / self.seconds

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds


def available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(url: str, *, key: str, batch: int, seconds: float, connections: int) -> WrkResult:
    """POST batches of ``batch`` events (one JSON object when 1) to ``url``/v1/events for ``seconds``."""
    with tempfile.TemporaryDirectory() as directory:
        script = Path(directory) / "ingest.lua"
        script.write_text(LUA)
        command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(script)]
        env = {**os.environ, "BENCH_BATCH": str(batch), "BENCH_KEY": key}
        done = subprocess.run(
            [*command, f"{url}/v1/events"], env=env, capture_output=True, text=True, timeout=seconds + 60, check=True
        )
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    raw = json.loads(line.removeprefix("RESULT "))
    return WrkResult(
        requests=raw["requests"],
        non_2xx=raw["non_2xx"],
        socket_errors=raw["socket_errors"],
        seconds=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        batch=batch,
    )
