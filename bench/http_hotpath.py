"""The request path's cost against a floor: ``splitlab serve`` vs a bare FastAPI app, under wrk.

Both servers run in the same invocation, on the same machine, with the same number of uvicorn
worker processes, and are driven by ``wrk`` (``-t2 -c<in flight> -d<duration>s --latency``) with a
Lua script that gives every request a user id never used before (thread id + counter):

- **floor**: a bare FastAPI app (built by ``floor_app`` below, served by ``uvicorn --factory``)
  with one ``POST /floor`` taking a small pydantic body (``user_id``, ``attributes``) and
  answering a small pydantic model: the least any FastAPI route on this machine costs.
- **new**: ``POST /api/experiments/{key}/assignments`` for new users, cycling over 10 running
  50/50 experiments (hash, then the exposure committed before the answer).
- **sticky**: the same route for 1,000 users assigned to all 10 experiments beforehand (one
  batch request per experiment), hit over and over: answered from the stored assignment.
- **evaluate**: ``POST /api/v1/evaluate`` for new users: all 10 running experiments at once
  (10 exposures committed per request).

Splitlab runs on a scratch SQLite file and on a scratch database created on ``--postgres-url``
(dropped afterwards; skipped with a message if the server cannot be reached), with 1 and 2
worker processes, each scenario at 16 and 256 requests in flight. For each worker count the
floor and the Splitlab servers (one per backend) are started together; each server and scenario
first gets a discarded ``--warmup``-second wrk run (at the highest concurrency), then the
measured runs go in rounds: one run of the floor, then one of every Splitlab scenario on every
backend, ``--runs`` times, with a pause after each run for the server to finish the requests wrk
abandoned at its deadline. The rounds spread drift (growing tables, the machine's other load)
evenly over the rows, and each Splitlab row's "vs floor" is the median over the rounds of its
req/s over the floor's in the same round, at the same worker count and concurrency.

The PostgreSQL scratch database is ``ANALYZE``d after the warm-up and after every round (what
autovacuum does within a minute of a table's growth; it may be off on a test server, as it is
on the one this was written on). Without statistics, the generic plan psycopg's prepared
exposure lookup gets from its fifth execution on can choose the per-variant index and filter
the experiment's exposures one by one, so the figures fall as the table grows; ``--no-analyze``
measures that case.

The Lua script counts every answer's status and checks its body (``"reason":"assigned"`` for new
users, ``"sticky"`` for repeat ones, 10 of them for evaluate). Reported per row: requests/s
(2xx answers only), p50 and p99 latency of all answers (from wrk's latency histogram), each the
median of ``--runs`` runs; non-2xx answers summed over the measured runs (the server answers
``503`` with ``Retry-After`` when saturated); and req/s as a fraction of the floor's. wrk shares
the machine's cores with the server (and with PostgreSQL), so the figures are lower bounds of
what the server alone could do, for Splitlab and the floor alike. A Markdown table is printed at
the end and the raw runs are written as JSON to ``bench/results/`` (git-ignored).

    apt-get install wrk
    python -m bench.http_hotpath [--backends sqlite,postgresql] [--workers 1,2]
        [--concurrency 16,256] [--scenarios new,sticky,evaluate] [--runs 3] [--duration 5]
        [--warmup 1] [--postgres-url postgresql://postgres@127.0.0.1:5432/postgres]
        [--no-postgres] [--no-analyze] [--json PATH | --no-json]

A quick look: ``python -m bench.http_hotpath --backends sqlite --workers 1 --concurrency 16
--runs 1``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field
from sqlalchemy import create_engine, text

from bench.http_assignment import (
    ADMIN,
    Server,
    _free_port,
    add_backend_options,
    backend_name,
    backend_servers,
    running_server,
    scratch_database,
    wait_healthy,
)
from splitlab.storage.engine import normalise_url

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"

EXPERIMENTS = 10
VARIANTS = [
    {"key": "control", "allocation": 50, "is_control": True},
    {"key": "treatment", "allocation": 50},
]


@dataclass(frozen=True)
class Scenario:
    name: str
    label: str
    #: The Lua pattern every 2xx body must contain ``expect_count`` times.
    expect: str
    expect_count: int


FLOOR = Scenario("floor", "floor: bare FastAPI", '"in_experiment":true', 1)
SCENARIOS = {
    s.name: s
    for s in (
        Scenario("new", "assign, new users", '"reason":"assigned"', 1),
        Scenario("sticky", "assign, sticky users", '"reason":"sticky"', 1),
        Scenario("evaluate", f"evaluate, {EXPERIMENTS} experiments", '"reason":"assigned"', 0),
    )
}


# --- the floor: a bare FastAPI app ----------------------------------------------------------


class FloorBody(BaseModel):
    user_id: str = Field(min_length=1, max_length=256)
    attributes: dict[str, Any] = Field(default_factory=dict)


class FloorAnswer(BaseModel):
    user_id: str
    variant_key: str
    in_experiment: bool


def floor_app() -> FastAPI:
    """The floor server (``uvicorn --factory bench.http_hotpath:floor_app``): one POST route
    with a validated body and a response model, no middleware, no database."""
    app = FastAPI(title="floor")

    @app.get("/health")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/floor", response_model=FloorAnswer)
    async def floor(body: FloorBody) -> FloorAnswer:
        variant = "control" if len(body.user_id) % 2 else "treatment"
        return FloorAnswer(user_id=body.user_id, variant_key=variant, in_experiment=True)

    return app


@contextmanager
def running_floor(workers: int) -> Iterator[str]:
    """``floor_app`` under uvicorn on a free loopback port, with ``workers`` processes, with the
    options ``splitlab serve`` gives uvicorn (log level warning: no access log)."""
    port = _free_port()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "bench.http_hotpath:floor_app",
                "--app-dir",
                str(ROOT),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(process, url, log, "the floor server")
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# --- wrk ------------------------------------------------------------------------------------

# Arguments (after ``--``): mode, user id prefix, admin token, experiment keys (comma-separated),
# sticky pool size, expected body pattern, expected count (0: one per experiment key).
WRK_SCRIPT = r"""
local threads = {}
local next_tid = 0

function setup(thread)
   thread:set("tid", next_tid)
   next_tid = next_tid + 1
   table.insert(threads, thread)
end

function init(args)
   mode = args[1]
   prefix = args[2]
   headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. args[3]}
   keys = {}
   for key in string.gmatch(args[4], "[^,]+") do table.insert(keys, key) end
   pool = tonumber(args[5])
   expect = args[6]
   expect_count = tonumber(args[7])
   if expect_count == 0 then expect_count = #keys end
   counter = 0
   statuses = {}
   unexpected = 0
   sample = ""
end

function request()
   counter = counter + 1
   local path, user
   if mode == "sticky" then
      user = prefix .. ((tid * 7919 + counter) % pool)
      path = "/api/experiments/" .. keys[(tid + counter) % #keys + 1] .. "/assignments"
   else
      user = prefix .. tid .. "-" .. counter
      if mode == "new" then
         path = "/api/experiments/" .. keys[counter % #keys + 1] .. "/assignments"
      elseif mode == "evaluate" then
         path = "/api/v1/evaluate"
      else
         path = "/floor"
      end
   end
   return wrk.format("POST", path, headers, '{"user_id":"' .. user .. '"}')
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
   if status >= 200 and status < 300 then
      local _, n = string.gsub(body, expect, "")
      if n ~= expect_count then
         unexpected = unexpected + 1
         if sample == "" then sample = string.sub(body, 1, 300) end
      end
   elseif sample == "" then
      sample = status .. " " .. string.sub(body, 1, 300)
   end
end

local function quote(s)
   return '"' .. string.gsub(s, '[%c"\\]', function(c)
      return string.format("\\u%04x", string.byte(c))
   end) .. '"'
end

function done(summary, latency, requests)
   local merged, unexpected_total, sample_any = {}, 0, ""
   for _, thread in ipairs(threads) do
      for status, n in pairs(thread:get("statuses")) do
         local key = string.format("%d", status)
         merged[key] = (merged[key] or 0) + n
      end
      unexpected_total = unexpected_total + thread:get("unexpected")
      if sample_any == "" then sample_any = thread:get("sample") end
   end
   local parts = {}
   for key, n in pairs(merged) do
      table.insert(parts, string.format('"%s":%d', key, n))
   end
   local e = summary.errors
   io.write(string.format(
      'WRKJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
      '"status":%d,"timeout":%d,"p50_us":%.1f,"p90_us":%.1f,"p99_us":%.1f,"max_us":%.1f,' ..
      '"statuses":{%s},"unexpected":%d,"sample":%s}\n',
      summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      table.concat(parts, ","), unexpected_total, quote(sample_any)))
end
"""


@dataclass(frozen=True)
class WrkRun:
    """One wrk run's figures."""

    requests: int
    seconds: float
    statuses: dict[str, int]
    #: Socket errors: connect, read, write, timeout (latency over ``--timeout``).
    socket_errors: dict[str, int]
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    #: 2xx answers whose body was not the expected one.
    unexpected: int
    #: The first unexpected body (or non-2xx answer) seen, if any.
    sample: str
    #: wrk's own "Non-2xx or 3xx responses" line (status >= 400), as a cross-check.
    wrk_non_2xx: int

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if status.startswith("2"))

    @property
    def non_2xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if not status.startswith("2"))

    @property
    def per_second(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


def run_wrk(
    script: Path,
    url: str,
    scenario: Scenario,
    *,
    concurrency: int,
    duration: float,
    args: argparse.Namespace,
    prefix: str,
) -> WrkRun:
    keys = ",".join(experiment_keys())
    command = [
        "wrk",
        f"-t{min(args.threads, concurrency)}",
        f"-c{concurrency}",
        f"-d{duration:g}s",
        f"--timeout={args.timeout:g}s",
        "--latency",
        "-s",
        str(script),
        url,
        "--",
        scenario.name,
        prefix,
        ADMIN,
        keys,
        str(args.pool),
        scenario.expect,
        str(scenario.expect_count),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    data = json.loads(line.removeprefix("WRKJSON "))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", done.stdout)
    return WrkRun(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        statuses=dict(sorted(data["statuses"].items())),
        socket_errors={k: data[k] for k in ("connect", "read", "write", "timeout")},
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        unexpected=data["unexpected"],
        sample=data["sample"],
        wrk_non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
    )


# --- measuring ------------------------------------------------------------------------------


@dataclass
class Cell:
    """One row of the table: every run of a scenario on one server at one concurrency."""

    backend: str
    workers: int
    scenario: str
    concurrency: int
    runs: list[WrkRun] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return statistics.median(r.per_second for r in self.runs)

    @property
    def p50_ms(self) -> float:
        return statistics.median(r.p50_ms for r in self.runs)

    @property
    def p99_ms(self) -> float:
        return statistics.median(r.p99_ms for r in self.runs)

    @property
    def statuses(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for run in self.runs:
            for status, n in run.statuses.items():
                total[status] = total.get(status, 0) + n
        return dict(sorted(total.items()))

    @property
    def non_2xx(self) -> int:
        return sum(r.non_2xx for r in self.runs)

    @property
    def socket_errors(self) -> dict[str, int]:
        total = {k: sum(r.socket_errors[k] for r in self.runs) for k in self.runs[0].socket_errors}
        return {k: n for k, n in total.items() if n}

    @property
    def unexpected(self) -> int:
        return sum(r.unexpected for r in self.runs)


def floor_ratio(cell: Cell, floor: Cell | None) -> float | None:
    """The median over rounds of this cell's req/s over the floor's in the same round."""
    if floor is None or len(floor.runs) != len(cell.runs):
        return None
    ratios = [c.per_second / f.per_second for c, f in zip(cell.runs, floor.runs, strict=True)]
    return statistics.median(ratios) if all(f.per_second for f in floor.runs) else None


def experiment_keys() -> list[str]:
    return [f"hotpath-{i}" for i in range(EXPERIMENTS)]


def set_up(server: Server, pool: int, *, sticky: bool) -> None:
    """The 10 running experiments, and (for the sticky scenario) the pool of users assigned to
    every one of them."""
    with server.client() as http:
        for key in experiment_keys():
            created = http.post(
                "/api/experiments/", json={"key": key, "name": key, "variants": VARIANTS}
            )
            if created.status_code != 201:
                raise RuntimeError(f"creating {key} failed: {created.status_code} {created.text}")
            started = http.post(f"/api/experiments/{key}/start")
            if started.status_code != 200:
                raise RuntimeError(f"starting {key} failed: {started.status_code} {started.text}")
            if sticky:
                users = [{"user_id": f"sticky-{i}"} for i in range(pool)]
                http.post(
                    f"/api/experiments/{key}/assignments/batch", json={"users": users}
                ).raise_for_status()


def _drain(run: WrkRun, concurrency: int) -> None:
    """Let the server finish what wrk abandoned at its deadline (up to ``concurrency``
    requests) before the next run starts."""
    rate = (run.requests / run.seconds) if run.seconds else 0.0
    time.sleep(min(3.0, 0.2 + concurrency / max(rate, 1.0)))


@dataclass(frozen=True)
class Target:
    """A running server and the scenarios to drive against it."""

    backend: str
    url: str
    scenarios: Sequence[Scenario]
    process: subprocess.Popen[bytes] | None = None
    #: A PostgreSQL scratch database to ``ANALYZE`` between rounds (``--no-analyze``: None).
    analyze_url: str | None = None


def autovacuum_setting(server_url: str) -> str:
    engine = create_engine(normalise_url(server_url))
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SELECT current_setting('autovacuum')")).scalar())
    finally:
        engine.dispose()


def analyze(targets: Sequence[Target]) -> None:
    """Fresh planner statistics on every PostgreSQL scratch database, as autovacuum would keep
    them (it is off on some servers; without statistics the exposure lookups' generic plans can
    pick the per-variant index and slow down as the table grows)."""
    for target in targets:
        if target.analyze_url is None:
            continue
        engine = create_engine(normalise_url(target.analyze_url), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text("ANALYZE"))
        finally:
            engine.dispose()


def _wrk_round(
    target: Target,
    scenario: Scenario,
    *,
    workers: int,
    concurrency: int,
    run: int,
    script: Path,
    args: argparse.Namespace,
    tag: str,
) -> WrkRun:
    if scenario.name == "sticky":
        prefix = "sticky-"
    else:  # users never seen by this server: a fresh prefix per scenario, concurrency and run
        prefix = f"{scenario.name}-{tag}-c{concurrency}-r{run + 1}-"
    figures = run_wrk(
        script,
        target.url,
        scenario,
        concurrency=concurrency,
        duration=args.warmup if run < 0 else args.duration,
        args=args,
        prefix=prefix,
    )
    what = "warm-up" if run < 0 else f"run {run + 1}/{args.runs}"
    extra = ""
    if figures.non_2xx or figures.unexpected or any(figures.socket_errors.values()):
        errors = {k: n for k, n in figures.socket_errors.items() if n}
        extra = (
            f"  statuses {figures.statuses} socket errors {errors} "
            f"unexpected bodies {figures.unexpected} first: {figures.sample[:200]!r}"
        )
    print(
        f"  {target.backend:<10} w{workers} {scenario.name:<8} c{concurrency:<3} {what:<9} "
        f"{figures.per_second:8,.0f} req/s  p50 {figures.p50_ms:7.1f} ms  "
        f"p99 {figures.p99_ms:7.1f} ms{extra}",
        flush=True,
    )
    _drain(figures, concurrency)
    return figures


def measure(
    targets: Sequence[Target], *, workers: int, script: Path, args: argparse.Namespace
) -> list[Cell]:
    """Every scenario of every running server at every concurrency: one discarded warm-up run
    per server and scenario, then ``args.runs`` rounds, each one run of every server and
    scenario (the floor first), so that drift and the machine's other load spread evenly."""
    cells: list[Cell] = []
    tag = uuid.uuid4().hex[:6]
    for target in targets:
        for scenario in target.scenarios:
            _wrk_round(
                target,
                scenario,
                workers=workers,
                concurrency=max(args.concurrency),
                run=-1,
                script=script,
                args=args,
                tag=tag,
            )
    analyze(targets)
    for concurrency in args.concurrency:
        here = [Cell(t.backend, workers, s.name, concurrency) for t in targets for s in t.scenarios]
        for run in range(args.runs):
            for cell, (target, scenario) in zip(
                here, [(t, s) for t in targets for s in t.scenarios], strict=True
            ):
                cell.runs.append(
                    _wrk_round(
                        target,
                        scenario,
                        workers=workers,
                        concurrency=concurrency,
                        run=run,
                        script=script,
                        args=args,
                        tag=tag,
                    )
                )
            analyze(targets)
        for target in targets:
            if target.process is not None and target.process.poll() is not None:
                print(f"  the {target.backend} server exited ({target.process.returncode})!")
        cells.extend(here)
    return cells


# --- reporting ------------------------------------------------------------------------------

BACKEND_ORDER = {"floor": 0, "sqlite": 1, "postgresql": 2}
SCENARIO_ORDER = {"floor": 0, "new": 1, "sticky": 2, "evaluate": 3}


def table(cells: Sequence[Cell]) -> str:
    floors = {(c.workers, c.concurrency): c for c in cells if c.scenario == "floor"}
    lines = [
        "| backend | workers | scenario | in flight | req/s | p50 ms | p99 ms | non-2xx "
        "| vs floor |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    ordered = sorted(
        cells,
        key=lambda c: (
            c.workers,
            BACKEND_ORDER.get(c.backend, 9),
            SCENARIO_ORDER[c.scenario],
            c.concurrency,
        ),
    )
    for cell in ordered:
        ratio = floor_ratio(cell, floors.get((cell.workers, cell.concurrency)))
        shown = "n/a" if ratio is None else f"{ratio:.3f}"
        if cell.scenario == "floor":
            shown = "1 (floor)"
        non_2xx = f"{cell.non_2xx:,}"
        if cell.non_2xx:
            bad = ", ".join(f"{s}: {n:,}" for s, n in cell.statuses.items() if s[0] != "2")
            non_2xx += f" ({bad})"
        label = FLOOR.label if cell.scenario == "floor" else SCENARIOS[cell.scenario].label
        backend = "none" if cell.backend == "floor" else cell.backend
        lines.append(
            f"| {backend} | {cell.workers} | {label} | {cell.concurrency} "
            f"| {cell.per_second:,.0f} | {cell.p50_ms:.1f} | {cell.p99_ms:.1f} | {non_2xx} "
            f"| {shown} |"
        )
    return "\n".join(lines)


def anomalies(cells: Sequence[Cell]) -> list[str]:
    notes: list[str] = []
    for cell in cells:
        where = f"{cell.backend}, {cell.workers} worker(s), {cell.scenario}, c{cell.concurrency}"
        if cell.socket_errors:
            notes.append(f"{where}: wrk socket errors {cell.socket_errors}")
        if cell.unexpected:
            sample = next((r.sample for r in cell.runs if r.unexpected), "")
            notes.append(f"{where}: {cell.unexpected} 2xx answers with another body: {sample!r}")
        if cell.non_2xx:
            sample = next((r.sample for r in cell.runs if r.non_2xx), "")
            notes.append(f"{where}: non-2xx {cell.statuses}; first: {sample!r}")
        mismatch = [r for r in cell.runs if r.wrk_non_2xx != r.non_2xx]
        if mismatch:
            notes.append(f"{where}: wrk's non-2xx/3xx count differs from the script's status count")
    return notes


def _git_commit() -> str:
    """HEAD, and a digest of ``src/``'s uncommitted changes (untracked files included) if any:
    the server runs from the working tree, which may change under a long run."""

    def git(*command: str) -> bytes:
        return subprocess.run(["git", *command], capture_output=True, cwd=ROOT).stdout

    try:
        commit = git("rev-parse", "--short", "HEAD").decode().strip()
        changes = git("diff", "HEAD", "--", "src")
        for name in git("ls-files", "--others", "--exclude-standard", "-z", "src").split(b"\0"):
            if name:
                changes += name + b"\0" + (ROOT / name.decode()).read_bytes()
    except OSError:
        return "unknown"
    if not changes:
        return commit
    return f"{commit} + uncommitted changes in src/ ({hashlib.sha1(changes).hexdigest()[:8]})"


def _wrk_version() -> str:
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    return (done.stdout or done.stderr).splitlines()[0].strip()


def _int_list(value: str) -> list[int]:
    return [int(v) for v in value.split(",") if v.strip()]


def _name_list(choices: Sequence[str]) -> Any:
    def parse(value: str) -> list[str]:
        names = [v.strip() for v in value.split(",") if v.strip()]
        wrong = [n for n in names if n not in choices]
        if wrong:
            raise argparse.ArgumentTypeError(f"not one of {', '.join(choices)}: {wrong}")
        return names

    return parse


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_backend_options(parser)
    parser.add_argument(
        "--backends",
        type=_name_list(["sqlite", "postgresql"]),
        default=["sqlite", "postgresql"],
        help="comma-separated: sqlite, postgresql",
    )
    parser.add_argument("--workers", type=_int_list, default=[1, 2], help="e.g. 1,2")
    parser.add_argument("--concurrency", type=_int_list, default=[16, 256], help="e.g. 16,256")
    parser.add_argument(
        "--scenarios",
        type=_name_list(list(SCENARIOS)),
        default=list(SCENARIOS),
        help="comma-separated: new, sticky, evaluate (the floor always runs)",
    )
    parser.add_argument("--runs", type=int, default=3, help="measured runs (median reported)")
    parser.add_argument("--duration", type=float, default=5, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=1, help="seconds of discarded warm-up")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--timeout", type=float, default=10, help="wrk request timeout, seconds")
    parser.add_argument("--pool", type=int, default=1000, help="pre-assigned users (sticky)")
    parser.add_argument(
        "--no-analyze",
        dest="analyze",
        action="store_false",
        help="do not ANALYZE the PostgreSQL scratch database between rounds",
    )
    parser.add_argument("--json", type=Path, help="where to write the raw runs as JSON")
    parser.add_argument("--no-json", action="store_true", help="do not write JSON")
    args = parser.parse_args(argv)

    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (Debian: apt-get install wrk)")
    if "postgresql" not in args.backends:
        args.no_postgres = True
    servers = backend_servers(args)  # None: a scratch SQLite file
    if "sqlite" not in args.backends:
        servers = [s for s in servers if s is not None]
    scenarios = [SCENARIOS[name] for name in args.scenarios]
    for server_url in servers:
        if server_url is not None:
            print(
                f"PostgreSQL autovacuum: {autovacuum_setting(server_url)}; the scratch database is "
                + (
                    "ANALYZEd after the warm-up and after every round"
                    if args.analyze
                    else "never ANALYZEd (--no-analyze)"
                ),
                flush=True,
            )

    started = time.monotonic()
    cells: list[Cell] = []
    load_before = os.getloadavg()
    #: The source each worker count's servers started from (the working tree may change).
    sources: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "hotpath.lua"
        script.write_text(WRK_SCRIPT)
        for workers in args.workers:
            with ExitStack() as stack:
                sources[f"{workers} worker(s)"] = _git_commit()
                print(
                    f"{workers} worker(s): starting the floor and Splitlab servers "
                    f"(source {sources[f'{workers} worker(s)']}) ...",
                    flush=True,
                )
                targets = [Target("floor", stack.enter_context(running_floor(workers)), [FLOOR])]
                for server_url in servers:
                    database_url = stack.enter_context(scratch_database(server_url, Path(tmp)))
                    server = stack.enter_context(running_server(database_url, workers=workers))
                    set_up(server, args.pool, sticky="sticky" in args.scenarios)
                    name = backend_name(database_url)
                    analyze_url = database_url if name == "postgresql" and args.analyze else None
                    targets.append(Target(name, server.url, scenarios, server.process, analyze_url))
                cells += measure(targets, workers=workers, script=script, args=args)
    elapsed = time.monotonic() - started

    load_after = os.getloadavg()
    sources["end"] = _git_commit()
    source = sources["end"]
    if len(set(sources.values())) > 1:
        source = "; ".join(f"{k}: {v}" for k, v in sources.items()) + " (changed during the run!)"
    machine = (
        f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
        f"Python {platform.python_version()}, {_wrk_version()}; wrk shares the cores with the "
        f"servers; 1-min load average {load_before[0]:.1f} before, {load_after[0]:.1f} after"
    )
    print(
        f"\nHTTP hot path vs a bare FastAPI floor: wrk -t{args.threads} -c<in flight> "
        f"-d{args.duration:g}s, median of {args.runs} run(s) after a {args.warmup:g} s warm-up; "
        f"req/s counts 2xx answers; non-2xx summed over the runs; vs floor: median of each "
        f"round's ratio; source {source}"
    )
    print(f"machine: {machine}\n")
    print(table(cells))
    notes = anomalies(cells)
    if notes:
        print("\nnotes:")
        print("\n".join(f"- {note}" for note in notes))
    print(f"\n(total {elapsed:.0f} s)")

    if not args.no_json:
        floors = {(c.workers, c.concurrency): c for c in cells if c.scenario == "floor"}
        path = args.json or RESULTS / f"http_hotpath-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                {
                    "benchmark": "bench.http_hotpath",
                    "when": datetime.now(UTC).isoformat(timespec="seconds"),
                    "source": sources,
                    "machine": machine,
                    "options": {
                        k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
                    },
                    "seconds": round(elapsed, 1),
                    "rows": [
                        {
                            "backend": c.backend,
                            "workers": c.workers,
                            "scenario": c.scenario,
                            "concurrency": c.concurrency,
                            "per_second": c.per_second,
                            "p50_ms": c.p50_ms,
                            "p99_ms": c.p99_ms,
                            "non_2xx": c.non_2xx,
                            "vs_floor": floor_ratio(c, floors.get((c.workers, c.concurrency))),
                            "statuses": c.statuses,
                            "runs": [asdict(r) for r in c.runs],
                        }
                        for c in cells
                    ],
                },
                indent=2,
            )
        )
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


if __name__ == "__main__":
    main()
