"""The server benchmark of scripts/bench: `brainlink-docs serve` against pouchdb-server over HTTP.

Targets run one after the other, never two at once, each a fresh server process in its own temp
directory that is stopped before the next starts:

  ours            .venv/bin/brainlink-docs serve --synchronous FULL (the default: fsync per commit)
  ours_normal     the same with --synchronous NORMAL (pouchdb-server's LevelDB never fsyncs)
  pouchdb_server  node_modules/.bin/pouchdb-server on LevelDB files (not --in-memory), request
                  logging off as ours is (--no-access-log)
  couchdb         a running CouchDB at env COUCHDB_URL (http://user:pass@host:port), when set

Rows per target, over the chat-message workload scripts/bench generates (the one definition):
  get_c1, get_c32    GET of a random id of a 10,000-document db (after a warm-up run)
  put_c1, put_c32    PUT updating a document with the rev the last PUT of it returned
  bulk_docs          POST _bulk_docs, batches of 1,000, all DOCS documents, one client
  all_docs           GET _all_docs?include_docs=true over the DOCS db, read to the last byte
  changes            GET _changes (feed=normal, whole feed), and changes_include_docs
The GET/PUT rows run wrk (scripts/bench_server.lua) for --server-seconds at 1 and 32
connections; the others a single Python aiohttp client. The server is pinned to one CPU and the
generator (wrk, or this process) to another. Each target also gets the generator's ceiling: wrk
against a trivial endpoint (GET /_up on ours and CouchDB, GET / on pouchdb-server).

--auth adds one more server, after the targets (issue 9's accounts rows; ratios within our
server, since pouchdb-server has no accounts setup worth comparing):

  ours_auth       ours as `ours`, with a local.ini in its data dir setting [chttpd_auth]
                  iterations (600,000) and [jwt_keys] hmac:_default (a random HS256 key)

  get_<variant>_c1, _c32  the get rows' GETs (same db, paths, wrk settings, warm-up) as
                          admin_basic (the baseline), member_basic, member_cookie (AuthSession
                          from POST /_session) and member_jwt (HS256 bearer, sub and exp); the
                          member is a _users user named in the db's _security members; each
                          the mean of AUTH_ROUNDS interleaved runs (auth_get_rows)
  session_login_c1, _c32  POST /_session with the member's password (scripts/bench_auth.lua):
                          after the first, the verified-password cache answers
  first_login_pbkdf2      FIRST_LOGIN_USERS new users, each logging in once, two at a time from
                          Python: PBKDF2 at the configured iterations runs for every login
and reports ratios_to_admin_basic (goal: each >= 0.9) and logins_per_s.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().with_name("bench_server.lua")
AUTH_LUA = Path(__file__).resolve().with_name("bench_auth.lua")
OUR_SERVER = ROOT / ".venv" / "bin" / "brainlink-docs"
POUCHDB_SERVER = ROOT / "node_modules" / "pouchdb-server" / "bin" / "pouchdb-server"
HOST = "127.0.0.1"
ADMIN = ("admin", "pw")

# The shape: point reads from a 10k-document db, 1 and 32 concurrent clients.
GET_DB_DOCS = 10_000
CONCURRENCY = (1, 32)
# Documents per PUT client: a document waits in a queue this long between its updates, so it is
# never in flight twice (no 409s) and the queue never runs dry.
PUT_POOL_PER_CLIENT = 32
# A warm-up run before each GET row (the goal is about a warm db): this share of the row's time,
# at most MAX_WARMUP_S; none for runs under 5 s (the smoke test).
WARMUP_SHARE = 0.2
MAX_WARMUP_S = 2
MIN_WARMED_S = 5
# How often the server's memory is read between rows, and how long a failed server gets to exit.
MEMORY_POLL_S = 0.25
EXIT_GRACE_S = 5.0
# A row at this share of the generator's ceiling may be measuring the generator, not the server.
CEILING_SHARE = 0.7
# Other processes using more than this share of a core during a row skew it: the run says so,
# and waits (up to QUIET_WAIT_S, sampling QUIET_SAMPLE_S at a time) for quiet before a target.
DISTURBED_SHARE = 0.25
QUIET_WAIT_S = 120.0
QUIET_SAMPLE_S = 0.5
BIG_SIZE = 1_000_000
# Figures in the JSON keep this many significant digits: run-to-run noise is far larger.
SIGNIFICANT_DIGITS = 5
# Bytes per read of a streamed answer: big enough that counting rows costs little per call.
SCAN_CHUNK = 1 << 18
# Our server loads in about a second; a 1M-document pouchdb-server can take longer to open.
START_TIMEOUT_S = 60.0
# Ours checkpoints every WAL on SIGTERM; a 1M-document db needs a few seconds.
STOP_TIMEOUT_S = 60.0
START_ATTEMPTS = 3
SERVER_CPU_INDEX, GENERATOR_CPU_INDEX = 0, 1
# py-spy samples per second, and how long it gets to attach before the load starts.
PROFILE_RATE = 200
PROFILE_LEAD_S = 0.5

# --auth: our server started with accounts configured, measured on its own (no other server
# has an accounts setup worth comparing, so its rows are ratios within our server).
AUTH_TARGET = "ours_auth"
# The database member: a _users user named in the GET db's _security members.
MEMBER = ("bench", "bench-member-password")
# CouchDB 3.5's PBKDF2 default ([chttpd_auth] iterations), written out so the figure cannot
# silently follow a changed default: the first-login row measures exactly this cost.
AUTH_ITERATIONS = 600_000
# Distinct users who each log in once (PBKDF2 runs for every one), and how many at a time.
FIRST_LOGIN_USERS = 32
FIRST_LOGIN_CONCURRENCY = 2
# Each accounts GET run waits at most this long for other processes to quiet down, and each
# row is the mean of this many interleaved runs (see auth_get_rows).
AUTH_QUIET_WAIT_S = 30.0
AUTH_ROUNDS = 2
ROUND_FIGURES = ("round", "req_per_s", "p50_ms", "p99_ms", "other_processes_cpu_share",
                 "waited_for_quiet_s", "ok")  # fmt: skip
# The JWT's lifetime: far longer than any run, so no row sees it expire.
JWT_SECONDS = 3600
AUTH_VARIANTS = ("admin_basic", "member_basic", "member_cookie", "member_jwt")
AUTH_GOAL = 0.9
AUTH_NOTE = (
    "Rows of our server alone, started with [chttpd_auth] iterations and [jwt_keys] "
    "hmac:_default in its local.ini (pouchdb-server has no accounts setup worth comparing). "
    "get_<variant>_c<N>: the same GETs as the get rows (random ids of the same 10,000-document "
    "db, same wrk settings and warm-up) as admin_basic (server admin, basic auth: the "
    "baseline), member_basic (a _users user named in the db's _security members, basic auth), "
    "member_cookie (that member's AuthSession cookie from POST /_session, fetched just before "
    "the row so no refresh is due) and member_jwt (an HS256 bearer token with sub and exp). "
    "Each is the mean of AUTH_ROUNDS (2) runs: all four variants in turn, then in reverse, so "
    "every variant's runs have the same mean time and a steady drift of the machine's speed "
    "cancels out of the ratios; each run waits up to 30 s for other processes to quiet down; "
    "every run's figures are under rounds, and other_processes_cpu_share is the worst run's. "
    "ratios_to_admin_basic divide each by admin_basic at the same concurrency. session_login_c"
    "<N>: POST /_session with the member's name and password (JSON), wrk "
    "(scripts/bench_auth.lua); after the first, each is served from the verified-password "
    "cache. first_login_pbkdf2: FIRST_LOGIN_USERS distinct users created beforehand, each "
    "logging in once, FIRST_LOGIN_CONCURRENCY at a time from one Python aiohttp client; PBKDF2 "
    "(iterations as configured) runs for every one."
)

# The goals.
RATIO_GOAL = 2.0
GET_P99_MS_GOAL = 5.0
RSS_1M_MB_GOAL = 150.0
# What a real CouchDB 3.5 does on this workload.
BULK_DOCS_PER_S_GOAL = 14_000.0

THROUGHPUT = {
    "get_c1": "req_per_s",
    "get_c32": "req_per_s",
    "put_c1": "req_per_s",
    "put_c32": "req_per_s",
    "bulk_docs": "docs_per_s",
    "all_docs": "rows_per_s",
    "changes": "rows_per_s",
    "changes_include_docs": "rows_per_s",
}
LATENCY_ROWS = ("get_c1", "get_c32", "put_c1", "put_c32")
RATIO_CONVENTIONS = (
    "Ratios compare each of our targets with each other server. *_per_s: ours/other, >1 means "
    "ours is faster. *_latency (p50, p99): other/ours, >1 means ours answers faster. peak_rss: "
    "ours/other, <1 means ours uses less memory."
)
CEILING_NOTE = (
    "generator_ceiling is wrk against a trivial endpoint of the same server, so it bounds the "
    "generator and the server's HTTP layer together. A row at >= 70% of it is flagged "
    "within_70pct_of_ceiling; generator_bound also needs the generator's own CPU share >= 0.7 "
    "(then the generator, not the server, limited the row). For the aiohttp-client rows the "
    "ceiling is the client's CPU: generator_bound when it used >= 70% of its core."
)

Log = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Options:
    docs: int
    seconds: int
    big: bool
    targets: tuple[str, ...]
    couchdb_url: str | None
    profile_dir: Path | None
    # --auth: the accounts rows, on a server of their own (AUTH_TARGET) after the targets.
    auth: bool = False


@dataclass(slots=True)
class Target:
    """A server under test: its root URL (no credentials), and its process when we started it."""

    name: str
    url: str
    auth: tuple[str, str] | None
    trivial_path: str
    directory: Path
    process: subprocess.Popen[bytes] | None = None
    about: dict[str, Any] = field(default_factory=dict)
    # The HS256 key the server was configured with ([jwt_keys] hmac:_default), when it was.
    jwt_key: bytes | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def authorization(self) -> str | None:
        if self.auth is None:
            return None
        return "Basic " + base64.b64encode(":".join(self.auth).encode()).decode()


@dataclass(frozen=True, slots=True)
class Workload:
    """The generated chat messages: an ndjson file, one 1,000-document batch a line."""

    path: Path
    docs: int
    avg_doc_bytes: float


# --- checks and CPUs -----------------------------------------------------------------------


def missing_tools(targets: tuple[str, ...], profile: bool = False) -> list[str]:
    """What the chosen targets need and this machine lacks, as install hints."""
    missing = []
    if shutil.which("wrk") is None:
        missing.append("wrk (apt-get install -y wrk)")
    if "pouchdb_server" in targets and (
        shutil.which("node") is None or not POUCHDB_SERVER.is_file()
    ):
        missing.append("node and node_modules/pouchdb-server (npm ci)")
    if any(t.startswith("ours") for t in targets) and not OUR_SERVER.is_file():
        missing.append(".venv/bin/brainlink-docs (bash scripts/bootstrap)")
    if profile and py_spy() is None:
        missing.append("py-spy (.venv/bin/pip install py-spy)")
    return missing


def py_spy() -> str | None:
    """py-spy on PATH, or the one `.venv/bin/pip install py-spy` put in the venv."""
    venv = ROOT / ".venv" / "bin" / "py-spy"
    return shutil.which("py-spy") or (str(venv) if venv.is_file() else None)


def cpu_split() -> tuple[set[int] | None, set[int] | None]:
    """One CPU for the server, another for the generator; no pinning on a one-CPU machine."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return {cpus[SERVER_CPU_INDEX]}, {cpus[GENERATOR_CPU_INDEX]}


def source_digest() -> str:
    """A digest of the server's source, to show whether it changed during the run."""
    digest = hashlib.sha256()
    for source in sorted((ROOT / "brainlink_docs").rglob("*.py")):
        digest.update(str(source.relative_to(ROOT)).encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()[:16]


# --- /proc ---------------------------------------------------------------------------------


def proc_status_kib(pid: int) -> dict[str, int]:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    fields = (line.split(":", 1) for line in lines if line.endswith(" kB"))
    return {name: int(value.split()[0]) for name, value in fields}


def memory_mb(pid: int | None) -> dict[str, float] | None:
    """RSS now, split into heap (anon) and mapped files, and its high-water mark (VmHWM), in MB
    (10^6 bytes); every thread's memory included (SQLite's page caches, LevelDB's)."""
    kib = proc_status_kib(pid) if pid is not None else {}
    if "VmHWM" not in kib:
        return None
    names = {"rss_mb": "VmRSS", "anon_mb": "RssAnon", "file_mb": "RssFile", "peak_rss_mb": "VmHWM"}
    return {key: kib[name] * 1024 / 1e6 for key, name in names.items() if name in kib}


def cpu_seconds(pid: int | None) -> float | None:
    """User plus system CPU of every thread of ``pid`` so far."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_busy_seconds() -> float:
    """CPU time every process on the machine has used (the first line of /proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU shares over one row (1.0 = one core busy): the server's, the generator's, and the
    rest of the machine's (other processes skew a benchmark; this shows by how much)."""

    def __init__(self, target: Target, generator: Callable[[], float]) -> None:
        self.target, self.generator = target, generator
        self.wall = time.perf_counter()
        self.server0 = cpu_seconds(target.pid)
        self.generator0 = generator()
        self.machine0 = machine_busy_seconds()

    def shares(self) -> dict[str, float | None]:
        wall = time.perf_counter() - self.wall
        server1 = cpu_seconds(self.target.pid)
        server = None
        if self.server0 is not None and server1 is not None:
            server = (server1 - self.server0) / wall
        generator = (self.generator() - self.generator0) / wall
        others = None
        if server is not None:  # a CouchDB we did not start would count as "other"
            others = max(0.0, (machine_busy_seconds() - self.machine0) / wall - generator - server)
        return {
            "server_cpu_share": server,
            "generator_cpu_share": generator,
            "other_processes_cpu_share": others,
        }


# --- servers -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def answers(url: str, process: subprocess.Popen[bytes]) -> bool:
    # No proxies: an http_proxy in the environment must not intercept a loopback probe.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        with (
            contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
            opener.open(url, timeout=1.0) as response,
        ):
            if response.status == 200:
                return True
        time.sleep(0.05)
    return False


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a clean shutdown), then SIGKILL: only this process, which we started."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def spawn(
    command: Callable[[int], list[str]], directory: Path, probe: str, cpus: set[int] | None
) -> tuple[subprocess.Popen[bytes], str]:
    """Start a server on a free loopback port, pinned to ``cpus``; return it once it answers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRAINLINK_")}
    failures = []
    for _ in range(START_ATTEMPTS):
        port = free_port()
        with open(directory / "server.log", "ab") as log_file:
            process = subprocess.Popen(
                command(port),
                cwd=directory,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=None if cpus is None else lambda: os.sched_setaffinity(0, cpus),
            )
        url = f"http://{HOST}:{port}"
        if answers(url + probe, process):
            return process, url
        stop_process(process)
        failures.append((directory / "server.log").read_bytes()[-2000:].decode(errors="replace"))
    raise RuntimeError("server did not start:\n" + "\n---\n".join(failures))


def start_ours(name: str, directory: Path, synchronous: str, cpus: set[int] | None) -> Target:
    def command(port: int) -> list[str]:
        return [str(OUR_SERVER), "serve", "--data-dir", str(directory / "data"), "--host", HOST,
                "--port", str(port), "--admin", ":".join(ADMIN), "--no-access-log",
                "--synchronous", synchronous]  # fmt: skip

    process, url = spawn(command, directory, "/_up", cpus)
    about = {"server": "brainlink-docs serve", "synchronous": synchronous, "command": command(0)}
    return Target(name, url, ADMIN, "/_up", directory, process, about)


def start_ours_auth(directory: Path, cpus: set[int] | None) -> Target:
    """Ours (as ``ours``: synchronous FULL, no access log) with a local.ini in its data dir that
    sets PBKDF2's iterations and an HS256 key; the server adds its admin, uuid and cookie secret
    to that file at its first start."""
    key = os.urandom(32)
    data = directory / "data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "local.ini").write_text(
        f"[chttpd_auth]\niterations = {AUTH_ITERATIONS}\n\n"
        f"[jwt_keys]\nhmac:_default = {base64.b64encode(key).decode()}\n"
    )
    target = start_ours(AUTH_TARGET, directory, "FULL", cpus)
    target.jwt_key = key
    target.about["config"] = {
        "chttpd_auth": {"iterations": AUTH_ITERATIONS, "secret": "(generated at first start)"},
        "jwt_keys": {"hmac:_default": "(32 random bytes, base64)"},
    }
    return target


def start_pouchdb_server(directory: Path, cpus: set[int] | None) -> Target:
    # Request logging off (level warning, no echo to stdout), as ours runs with --no-access-log.
    (directory / "config.json").write_text(json.dumps({"log": {"level": "warning"}}))
    (directory / "data").mkdir(exist_ok=True)
    node = shutil.which("node") or "node"

    def command(port: int) -> list[str]:
        return [node, str(POUCHDB_SERVER), "--host", HOST, "--port", str(port),
                "--dir", str(directory / "data"), "--config", str(directory / "config.json"),
                "--no-color", "--no-stdout-logs"]  # fmt: skip

    process, url = spawn(command, directory, "/", cpus)
    version = json.loads((POUCHDB_SERVER.parent.parent / "package.json").read_text())["version"]
    about = {"server": f"pouchdb-server {version} (LevelDB)", "command": command(0)}
    return Target("pouchdb_server", url, None, "/", directory, process, about)


def couchdb_target(url: str, directory: Path) -> Target:
    parts = urlsplit(url)
    auth = (parts.username or "", parts.password or "") if parts.username else None
    root = f"{parts.scheme}://{parts.hostname}:{parts.port or 5984}"
    about = {"server": "CouchDB at COUCHDB_URL (not started here: no pinning, no RSS)"}
    return Target("couchdb", root, auth, "/_up", directory, None, about)


def each_target(
    names: Iterable[str],
    start: Callable[[str], Target],
    measure: Callable[[Target], dict[str, Any]],
    log: Log,
) -> dict[str, Any]:
    """Start each server in turn, measure it, stop it: one row per name, and a peer that falls
    over is a row with its error, not a crash of the run."""
    results: dict[str, Any] = {}
    for name in names:
        target = None
        try:
            target = start(name)
            results[name] = {"about": target.about, **measure(target)}
        except Exception as exc:
            log(f"{name}: failed: {exc}")
            results[name] = {"error": str(exc)[:500]}
        finally:
            if target is not None and target.process is not None:
                stop_process(target.process)
    return results


# --- the Python client (bulk load and streamed reads) -------------------------------------


class Client:
    """An aiohttp session on one target; asks for identity encoding, as wrk does, so no server
    spends its time gzipping (pouchdb-server would)."""

    def __init__(self, target: Target) -> None:
        import aiohttp

        self.target = target
        auth = aiohttp.BasicAuth(*target.auth) if target.auth else None
        self.session = aiohttp.ClientSession(
            auth=auth,
            headers={"Accept-Encoding": "identity"},
            timeout=aiohttp.ClientTimeout(total=None, sock_read=600),
        )

    async def close(self) -> None:
        await self.session.close()

    async def request(self, method: str, path: str, body: bytes | None = None) -> Any:
        import orjson

        headers = {"Content-Type": "application/json"} if body is not None else None
        url = self.target.url + path
        async with self.session.request(method, url, data=body, headers=headers) as response:
            data = await response.read()
            if response.status >= 400:
                raise RuntimeError(f"{method} {path}: {response.status} {data[:200]!r}")
            return orjson.loads(data)

    async def create_db(self, name: str) -> None:
        with contextlib.suppress(RuntimeError):
            await self.request("DELETE", f"/{name}")
        await self.request("PUT", f"/{name}")


def batch_lines(workload: Workload, max_docs: int | None = None) -> Iterator[bytes]:
    """The workload's batches as raw JSON arrays, up to ``max_docs`` documents."""
    import orjson

    docs = 0
    with workload.path.open("rb") as lines:
        for line in lines:
            if max_docs is not None and docs >= max_docs:
                return
            batch = line.rstrip(b"\n")
            if max_docs is not None and docs + 1_000 > max_docs:
                batch = orjson.dumps(orjson.loads(batch)[: max_docs - docs])
            docs += batch.count(b'"_id":')
            yield batch


async def bulk_load(
    client: Client, db: str, workload: Workload, max_docs: int | None = None, log: Log | None = None
) -> dict[str, Any]:
    """POST every batch to ``_bulk_docs``; only the requests are timed, not reading the file."""
    meter = CpuMeter(client.target, own_cpu_seconds)
    timed = 0
    docs = batches = 0
    wall = time.perf_counter()
    for line in batch_lines(workload, max_docs):
        body = b'{"docs":' + line + b"}"
        t0 = time.perf_counter_ns()
        results = await client.request("POST", f"/{db}/_bulk_docs", body)
        timed += time.perf_counter_ns() - t0
        failed = [r for r in results if "error" in r]
        if failed:
            raise RuntimeError(f"_bulk_docs failed for {len(failed)} documents: {failed[0]}")
        docs += len(results)
        batches += 1
        if log is not None and docs % 100_000 == 0:
            log(f"{client.target.name}: bulk_docs {docs}/{workload.docs}")
    seconds = timed / 1e9
    row = {"docs": docs, "batches": batches, "seconds": seconds, "docs_per_s": docs / seconds}
    return row | {"wall_seconds": time.perf_counter() - wall} | meter.shares()


async def scan(client: Client, path: str, marker: bytes, expected: int) -> dict[str, Any]:
    """Read a streamed answer to its last byte, counting rows by ``marker`` (one per row)."""
    meter = CpuMeter(client.target, own_cpu_seconds)
    rows = size = 0
    tail = b""
    first_byte = None
    t0 = time.perf_counter()
    async with client.session.get(client.target.url + path) as response:
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status}")
        async for chunk in response.content.iter_chunked(SCAN_CHUNK):
            if first_byte is None:
                first_byte = time.perf_counter() - t0
            size += len(chunk)
            data = tail + chunk
            rows += data.count(marker)
            tail = data[-(len(marker) - 1) :]
    seconds = time.perf_counter() - t0
    if rows != expected:
        raise RuntimeError(f"GET {path} returned {rows} rows, expected {expected}")
    return {
        "rows": rows,
        "bytes": size,
        "seconds": seconds,
        "first_byte_ms": (first_byte or 0) * 1e3,
        "rows_per_s": rows / seconds,
        "mb_per_s": size / 1e6 / seconds,
    } | meter.shares()


# --- wrk -----------------------------------------------------------------------------------


async def wrk(
    target: Target,
    connections: int,
    seconds: int,
    script_args: list[str],
    *,
    headers: list[str] | None = None,
    script: Path = LUA,
) -> dict[str, Any]:
    """One wrk run of ``script`` (one thread; it inherits our generator CPU). ``headers`` are
    the credentials to send ("Name: value" lines); None sends the target's own (its admin)."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
    if headers is None:
        headers = [f"Authorization: {target.authorization}"] if target.authorization else []
    for header in headers:
        command += ["-H", header]
    command += ["-s", str(script), target.url, "--", *script_args]
    meter = CpuMeter(target, children_cpu_seconds)
    process = await asyncio.create_subprocess_exec(
        *command, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await process.communicate()
    shares = meter.shares()
    lines = [line for line in out.decode().splitlines() if line.startswith("BENCH_JSON ")]
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({process.returncode}): {err.decode()[-500:]}")
    raw = json.loads(lines[-1].removeprefix("BENCH_JSON "))
    duration = raw["duration_us"] / 1e6
    latency = raw["latency_us"]
    errors = {k: v for k, v in raw["errors"].items() if v}
    row: dict[str, Any] = {
        "connections": connections,
        "requests": raw["requests"],
        "seconds": duration,
        "req_per_s": raw["requests"] / duration,
        **{
            f"{name}_ms": latency[name] / 1e3
            for name in ("p50", "p90", "p99", "p999", "max", "mean")
        },
        "errors": errors,
        "ok": not errors,
        **shares,
    }
    if script_args[0] == "put":
        row["put"] = raw["put"]
        row["ok"] = row["ok"] and raw["put"]["failed"] == 0
    return row


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


async def put_pool(client: Client, db: str, workload: Workload, size: int, path: Path) -> Path:
    """Create ``db`` with ``size`` workload documents; write "id TAB rev TAB body" for the Lua."""
    import orjson

    await client.create_db(db)
    docs = [doc for line in batch_lines(workload, size) for doc in orjson.loads(line)]
    results = await client.request("POST", f"/{db}/_bulk_docs", orjson.dumps({"docs": docs}))
    lines = []
    for doc, result in zip(docs, results, strict=True):
        body = orjson.dumps({k: v for k, v in doc.items() if k != "_id"})
        lines.append(f"{result['id']}\t{result['rev']}\t{body[1:].decode()}")
    return write_lines(path, lines)


# --- one target ------------------------------------------------------------------------------


DB_NAMES = ("docs", "get", "put_c1", "put_c32", "put_profile")


def db_names(target: Target) -> dict[str, str]:
    """Database names on one target: unique on a CouchDB we do not own (deleted afterwards)."""
    prefix = f"bench_{os.getpid()}_" if target.process is None else "bench_"
    return {name: prefix + name for name in DB_NAMES}


class MemoryLog:
    """The server's memory after each row, and a poll every MEMORY_POLL_S in between, so the
    peak is known even of a server that dies mid-row (its VmHWM goes with it)."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.last = memory_mb(target.pid)
        self.after_row: dict[str, Any] = {"start": self.last}
        self._poller: asyncio.Task[None] | None = None

    async def __aenter__(self) -> MemoryLog:
        if self.target.pid is not None:
            self._poller = asyncio.create_task(self._poll())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        self.mark("end")

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(MEMORY_POLL_S)
            self.last = memory_mb(self.target.pid) or self.last

    def mark(self, row: str) -> None:
        snapshot = memory_mb(self.target.pid)
        if snapshot is not None:
            self.last = self.after_row[row] = snapshot

    def report(self) -> dict[str, Any]:
        return {
            "peak_rss_mb": self.last["peak_rss_mb"] if self.last else None,
            "memory_after_row_mb": self.after_row,
        }


async def measure(target: Target, workload: Workload, options: Options, log: Log) -> dict[str, Any]:
    """Every row on one running target, in a fixed order."""
    names = db_names(target)
    rows: dict[str, Any] = {}
    profiles = None
    client = Client(target)
    try:
        async with MemoryLog(target) as memory:
            ceiling = await ceilings(client, options.seconds, log)
            await client.create_db(names["docs"])
            rows["bulk_docs"] = await bulk_load(client, names["docs"], workload, log=log)
            memory.mark("bulk_docs")
            log(f"{target.name}: bulk_docs {rows['bulk_docs']['docs_per_s']:.0f} docs/s")
            paths = await get_db(client, names["get"], workload)
            for c in CONCURRENCY:
                rows[f"get_c{c}"] = await get_row(client, paths, c, options.seconds, log)
                rows[f"get_c{c}"]["db_docs"] = min(GET_DB_DOCS, workload.docs)
                memory.mark(f"get_c{c}")
            for c in CONCURRENCY:
                rows[f"put_c{c}"] = await put_row(client, names, workload, c, options.seconds, log)
                memory.mark(f"put_c{c}")
            rows.update(await scans(client, names["docs"], workload.docs, memory, log))
        # After the memory log closed: the profiling runs' extra db is not in the peak.
        if options.profile_dir is not None and target.name.startswith("ours"):
            profiles = await profile(target, paths, workload, client, names, options)
        if target.process is None:
            for db in names.values():
                with contextlib.suppress(RuntimeError):
                    await client.request("DELETE", f"/{db}")
    finally:
        await client.close()
    annotate(rows, ceiling)
    return {
        "about": target.about,
        "generator_ceiling": ceiling,
        "rows": rows,
        **memory.report(),
        "profiles": profiles,
    }


def warmup_seconds(seconds: int) -> int:
    return min(MAX_WARMUP_S, int(seconds * WARMUP_SHARE)) if seconds >= MIN_WARMED_S else 0


async def ceilings(client: Client, seconds: int, log: Log) -> dict[str, Any]:
    """wrk on the trivial endpoint at each concurrency, after the first login (PBKDF2 runs
    once per credential) and a warm-up."""
    target = client.target
    trivial = write_lines(target.directory / "trivial.txt", [target.trivial_path])
    await client.request("GET", "/")
    if warmup_seconds(seconds):
        await wrk(target, max(CONCURRENCY), warmup_seconds(seconds), ["get", str(trivial)])
    out = {f"c{c}": await wrk(target, c, seconds, ["get", str(trivial)]) for c in CONCURRENCY}
    figures = ", ".join(f"{k} {v['req_per_s']:.0f} req/s" for k, v in out.items())
    log(f"{target.name}: ceiling {figures}")
    return out


async def get_db(client: Client, db: str, workload: Workload) -> Path:
    """The GET rows' db (the workload's first GET_DB_DOCS documents) and a file of its paths."""
    import orjson

    await client.create_db(db)
    await bulk_load(client, db, workload, GET_DB_DOCS)
    docs = (doc for line in batch_lines(workload, GET_DB_DOCS) for doc in orjson.loads(line))
    paths = [f"/{db}/{doc['_id']}" for doc in docs]
    return write_lines(client.target.directory / "get.txt", paths)


async def get_row(
    client: Client, paths: Path, c: int, seconds: int, log: Log,
    headers: list[str] | None = None, label: str = "get",
) -> dict[str, Any]:  # fmt: skip
    """GETs of ``paths`` at ``c`` connections after a warm-up, with ``headers`` as credentials
    (None: the target's admin)."""
    target = client.target
    if warmup_seconds(seconds):
        await wrk(target, c, warmup_seconds(seconds), ["get", str(paths)], headers=headers)
    row = await wrk(target, c, seconds, ["get", str(paths)], headers=headers)
    row["warmup_seconds"] = warmup_seconds(seconds)
    log(f"{target.name}: {label} c{c} {row['req_per_s']:.0f} req/s, p99 {row['p99_ms']:.2f} ms")
    return row


async def put_row(client: Client, names: dict[str, str], workload: Workload, c: int,
                  seconds: int, log: Log) -> dict[str, Any]:  # fmt: skip
    """PUTs at ``c`` clients on a fresh db of PUT_POOL_PER_CLIENT documents per client."""
    db, size = names[f"put_c{c}"], min(workload.docs, PUT_POOL_PER_CLIENT * c)
    pool = await put_pool(client, db, workload, size, client.target.directory / f"put{c}.txt")
    row = await wrk(client.target, c, seconds, ["put", str(pool), db, "1"])
    row["pool_docs"] = size
    log(f"{client.target.name}: put c{c} {row['req_per_s']:.0f} req/s, p99 {row['p99_ms']:.2f} ms")
    return row


async def scans(client: Client, db: str, docs: int, memory: MemoryLog, log: Log) -> dict[str, Any]:
    """The three streamed reads of the ``docs`` db: all_docs with docs, changes without, with.

    A failed read is recorded and the next one tried (at 1M documents pouchdb-server builds
    each answer as one string, which can exceed what V8 allows); a server that died ends them.
    """
    rows: dict[str, Any] = {}
    reads = {
        "all_docs": (f"/{db}/_all_docs?include_docs=true", b'"id":'),
        "changes": (f"/{db}/_changes", b'"seq":'),
        "changes_include_docs": (f"/{db}/_changes?include_docs=true", b'"seq":'),
    }
    for name, (path, marker) in reads.items():
        try:
            rows[name] = await scan(client, path, marker, docs)
        except Exception as exc:  # one failed read must not lose the others' figures
            rows[name] = {"error": repr(exc)}
            log(f"{client.target.name}: {name} failed: {exc!r}")
            status = await exit_status(client.target)
            if status is not None:
                rows[name]["server_exit_status"] = status
                rows[name]["server_log_tail"] = log_tail(client.target.directory)
                break
            continue
        memory.mark(name)
        log(f"{client.target.name}: {name} {rows[name]['rows_per_s']:.0f} rows/s")
    return rows


async def exit_status(target: Target) -> int | None:
    """The server's exit status if it died (given a moment to finish dying), else None."""
    if target.process is None:
        return None
    with contextlib.suppress(subprocess.TimeoutExpired):
        return await asyncio.to_thread(target.process.wait, EXIT_GRACE_S)
    return None


def log_tail(directory: Path, size: int = 1500) -> str:
    with contextlib.suppress(OSError):
        return (directory / "server.log").read_bytes()[-size:].decode(errors="replace")
    return ""


def annotate(rows: dict[str, Any], ceiling: dict[str, Any]) -> None:
    """Flag rows that may be measuring the load generator rather than the server."""
    for row in rows.values():
        gen = row.get("generator_cpu_share") or 0.0
        if "connections" in row:
            top = ceiling[f"c{row['connections']}"]["req_per_s"]
            share = row["req_per_s"] / top
            row["generator"] = {
                "tool": "wrk -t1",
                "ceiling_req_per_s": top,
                "share_of_ceiling": share,
                "within_70pct_of_ceiling": share >= CEILING_SHARE,
            }
            row["generator_bound"] = share >= CEILING_SHARE and gen >= CEILING_SHARE
        else:
            row["generator"] = {"tool": "python aiohttp, 1 client", "ceiling": "one CPU core"}
            row["generator_bound"] = gen >= CEILING_SHARE


async def measure_big(target: Target, workload: Workload, log: Log) -> dict[str, Any]:
    """--server-1m: load a 1M-document db, then scan it; RSS after each step."""
    client = Client(target)
    try:
        async with MemoryLog(target) as memory:
            await client.create_db("bench_1m")
            rows = {"bulk_docs": await bulk_load(client, "bench_1m", workload, log=log)}
            memory.mark("bulk_docs")
            log(f"{target.name} 1M: bulk_docs {rows['bulk_docs']['docs_per_s']:.0f} docs/s")
            rows.update(await scans(client, "bench_1m", workload.docs, memory, log))
    finally:
        await client.close()
    annotate(rows, {})
    return {"about": target.about, "rows": rows, **memory.report()}


# --- accounts (--auth) -----------------------------------------------------------------------


def basic_header(name: str, password: str) -> str:
    return "Authorization: Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()


def bearer_token(key: bytes, name: str) -> str:
    """An HS256 JWT for ``name`` (``sub``) that outlives the run (``exp``), no kid: the server
    checks it with its ``[jwt_keys] hmac:_default``."""
    import jwt

    claims = {"sub": name, "exp": int(time.time()) + JWT_SECONDS}
    return jwt.encode(claims, key, algorithm="HS256")


async def create_user(client: Client, name: str, password: str) -> None:
    """As the admin: the server hashes the password (PBKDF2, [chttpd_auth] iterations)."""
    import orjson

    doc = {"name": name, "password": password, "roles": [], "type": "user"}
    await client.request("PUT", f"/_users/org.couchdb.user:{name}", orjson.dumps(doc))


async def make_member(client: Client, db: str, name: str) -> None:
    import orjson

    security = {"admins": {"names": [], "roles": []}, "members": {"names": [name], "roles": []}}
    await client.request("PUT", f"/{db}/_security", orjson.dumps(security))


class Anonymous:
    """An aiohttp session with no credentials and no cookie jar: each request carries only
    what it is given, as a wrk connection does."""

    def __init__(self, target: Target) -> None:
        import aiohttp

        self.target = target
        self.session = aiohttp.ClientSession(
            cookie_jar=aiohttp.DummyCookieJar(), headers={"Accept-Encoding": "identity"}
        )

    async def close(self) -> None:
        await self.session.close()

    async def login(self, name: str, password: str) -> str:
        """POST /_session (JSON, as PouchDB sends it); the AuthSession cookie's value."""
        import orjson

        body = orjson.dumps({"name": name, "password": password})
        headers = {"Content-Type": "application/json"}
        url = self.target.url + "/_session"
        async with self.session.post(url, data=body, headers=headers) as response:
            data = await response.read()
            if response.status != 200:
                raise RuntimeError(f"POST /_session as {name}: {response.status} {data[:200]!r}")
            morsel = response.cookies.get("AuthSession")
        if morsel is None or not morsel.value:
            raise RuntimeError("POST /_session set no AuthSession cookie")
        return morsel.value

    async def get(self, path: str, header: str | None) -> tuple[int, Any]:
        """GET ``path`` with one "Name: value" header (or none): status and JSON body."""
        import orjson

        headers = dict([header.split(": ", 1)]) if header else None
        async with self.session.get(self.target.url + path, headers=headers) as response:
            return response.status, orjson.loads(await response.read())


async def auth_checks(
    anonymous: Anonymous, path: str, credentials: dict[str, list[str] | None], admin: str
) -> dict[str, Any]:
    """Before any row: each variant is who it should be (GET /_session) and may read the db
    (GET ``path``), and an anonymous GET is refused, so the rows measure access control at
    work. Raises when one is not."""
    out: dict[str, Any] = {}
    for variant, headers in credentials.items():
        header = admin if headers is None else headers[0]
        _, session = await anonymous.get("/_session", header)
        status, _ = await anonymous.get(path, header)
        user = session.get("userCtx", {})
        out[variant] = {
            "user": user.get("name"),
            "roles": user.get("roles"),
            "authenticated": session.get("info", {}).get("authenticated"),
            "get_status": status,
        }
        expected = ADMIN[0] if variant == "admin_basic" else MEMBER[0]
        member_ok = variant == "admin_basic" or "_admin" not in (user.get("roles") or [])
        if user.get("name") != expected or status != 200 or not member_ok:
            raise RuntimeError(f"{variant} is not who the row needs: {out[variant]}")
    status, body = await anonymous.get(path, None)
    out["anonymous"] = {"get_status": status, "error": body.get("error")}
    if status != 401:
        raise RuntimeError(f"an anonymous GET of the members-only db gave {status}, not 401")
    return out


async def variant_credentials(target: Target, anonymous: Anonymous) -> dict[str, list[str] | None]:
    """The headers each variant sends: None is the target's admin basic auth; a cookie is
    fetched fresh (call this just before a row, so no refresh is due during it)."""
    assert target.jwt_key is not None
    cookie = await anonymous.login(*MEMBER)
    return {
        "admin_basic": None,
        "member_basic": [basic_header(*MEMBER)],
        "member_cookie": [f"Cookie: AuthSession={cookie}"],
        "member_jwt": [f"Authorization: Bearer {bearer_token(target.jwt_key, MEMBER[0])}"],
    }


async def auth_get_rows(
    client: Client, anonymous: Anonymous, paths: Path, c: int, options: Options, log: Log
) -> dict[str, dict[str, Any]]:
    """The get_<variant>_c<c> rows: AUTH_ROUNDS rounds of every variant in turn, forwards, then
    backwards, each run starting on a quiet machine (or saying how long it waited for one). A
    row is the mean of its runs: every variant's runs then sit at the same mean time, so a
    steady drift of the machine's speed (a VM's steal, a neighbour's job) cancels out of the
    ratios instead of favouring whichever variant ran first."""
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in AUTH_VARIANTS}
    for round_ in range(AUTH_ROUNDS):
        for variant in AUTH_VARIANTS[:: -1 if round_ % 2 else 1]:
            label = f"get {variant}"
            waited = await asyncio.to_thread(
                wait_for_quiet, f"{label} c{c}", log, AUTH_QUIET_WAIT_S
            )
            headers = (await variant_credentials(client.target, anonymous))[variant]
            row = await get_row(client, paths, c, options.seconds, log, headers, label)
            runs[variant].append(row | {"round": round_, "waited_for_quiet_s": waited})
    return {f"get_{v}_c{c}": combine_runs(rounds) for v, rounds in runs.items()}


def combine_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One row of several wrk runs of the same load: req/s over all of them (the mean, for
    runs of equal length), latency percentiles and CPU shares averaged, the worst of max
    latency and of other processes' share (a disturbed run marks the row), every error, and
    each run's own figures under ``rounds``."""
    row = dict(runs[0])
    requests, seconds = sum(r["requests"] for r in runs), sum(r["seconds"] for r in runs)
    row |= {"requests": requests, "seconds": seconds, "req_per_s": requests / seconds}
    for key in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "mean_ms", "waited_for_quiet_s"):
        row[key] = sum(r[key] for r in runs) / len(runs)
    for key in ("server_cpu_share", "generator_cpu_share"):
        shares = [r[key] for r in runs if r.get(key) is not None]
        row[key] = sum(shares) / len(shares) if shares else None
    others = [r["other_processes_cpu_share"] for r in runs if r.get("other_processes_cpu_share")]
    row["other_processes_cpu_share"] = max(others, default=runs[0]["other_processes_cpu_share"])
    row["max_ms"] = max(r["max_ms"] for r in runs)
    errors: Counter[str] = Counter()
    for r in runs:
        errors.update(r["errors"])
    row |= {"errors": dict(errors), "ok": all(r["ok"] for r in runs), "runs": len(runs)}
    row["rounds"] = [{k: r[k] for k in ROUND_FIGURES} for r in runs]
    row.pop("round", None)
    return row


async def login_row(target: Target, c: int, seconds: int, body: Path, log: Log) -> dict[str, Any]:
    """POST /_session at ``c`` connections, the member's password each time (the cache's)."""
    args = ["post", "/_session", str(body), "application/json"]
    row = await wrk(target, c, seconds, args, headers=[], script=AUTH_LUA)
    log(f"{target.name}: session login c{c} {row['req_per_s']:.0f} logins/s")
    return row


async def first_logins(
    client: Client, anonymous: Anonymous, log: Log, users: int = FIRST_LOGIN_USERS
) -> dict[str, Any]:
    """``users`` new users (created untimed), each logging in once, FIRST_LOGIN_CONCURRENCY at a
    time: no verified-password cache helps, PBKDF2 runs for each."""
    names = [f"bench-first-{i:04d}" for i in range(users)]
    password = MEMBER[1]
    pending = list(names)

    async def create() -> None:
        while pending:
            await create_user(client, pending.pop(), password)

    await asyncio.gather(*(create() for _ in range(FIRST_LOGIN_CONCURRENCY)))
    pending = list(names)
    latencies: list[float] = []

    async def login() -> None:
        while pending:
            name = pending.pop()
            t0 = time.perf_counter()
            await anonymous.login(name, password)
            latencies.append(time.perf_counter() - t0)

    meter = CpuMeter(client.target, own_cpu_seconds)
    t0 = time.perf_counter()
    await asyncio.gather(*(login() for _ in range(FIRST_LOGIN_CONCURRENCY)))
    seconds = time.perf_counter() - t0
    latencies.sort()
    row = {
        "logins": len(latencies),
        "concurrency": FIRST_LOGIN_CONCURRENCY,
        "iterations": AUTH_ITERATIONS,
        "seconds": seconds,
        "logins_per_s": len(latencies) / seconds,
        "p50_ms": latencies[len(latencies) // 2] * 1e3,
        "max_ms": latencies[-1] * 1e3,
        # One PBKDF2 in this process, on the generator's core: what each login costs at least.
        "one_pbkdf2_here_ms": pbkdf2_seconds() * 1e3,
        "ok": len(latencies) == users,
    } | meter.shares()
    log(f"{client.target.name}: first logins {row['logins_per_s']:.1f} logins/s (PBKDF2)")
    return row


def pbkdf2_seconds() -> float:
    t0 = time.perf_counter()
    hashlib.pbkdf2_hmac("sha256", b"password", os.urandom(16).hex().encode(), AUTH_ITERATIONS)
    return time.perf_counter() - t0


async def measure_auth(
    target: Target, workload: Workload, options: Options, log: Log
) -> dict[str, Any]:
    """The accounts rows, in a fixed order: the generator's ceiling; per concurrency, GETs as
    each variant; _session logins at each concurrency; first logins (PBKDF2)."""
    import orjson

    db = db_names(target)["get"]
    rows: dict[str, Any] = {}
    profiles = None
    client, anonymous = Client(target), Anonymous(target)
    try:
        async with MemoryLog(target) as memory:
            ceiling = await ceilings(client, options.seconds, log)
            paths = await get_db(client, db, workload)
            await create_user(client, *MEMBER)
            await make_member(client, db, MEMBER[0])
            first_path = paths.read_text().split("\n", 1)[0]
            admin = f"Authorization: {target.authorization}"
            checks = await auth_checks(
                anonymous, first_path, await variant_credentials(target, anonymous), admin
            )
            for c in CONCURRENCY:
                got = await auth_get_rows(client, anonymous, paths, c, options, log)
                for name, row in got.items():
                    rows[name] = row | {"db_docs": min(GET_DB_DOCS, workload.docs)}
                memory.mark(f"get_c{c}")
            body = target.directory / "login.json"
            body.write_bytes(orjson.dumps({"name": MEMBER[0], "password": MEMBER[1]}))
            for c in CONCURRENCY:
                rows[f"session_login_c{c}"] = await login_row(target, c, options.seconds, body, log)
                memory.mark(f"session_login_c{c}")
            rows["first_login_pbkdf2"] = await first_logins(client, anonymous, log)
            memory.mark("first_login_pbkdf2")
        if options.profile_dir is not None:
            credentials = await variant_credentials(target, anonymous)
            loads = {
                f"get_{v}_c{max(CONCURRENCY)}": Load(["get", str(paths)], credentials[v])
                for v in AUTH_VARIANTS
            }
            loads[f"session_login_c{max(CONCURRENCY)}"] = Load(
                ["post", "/_session", str(body), "application/json"], [], AUTH_LUA
            )
            profiles = await profile_loads(target, loads, options)
    finally:
        await client.close()
        await anonymous.close()
    annotate(rows, ceiling)
    ratios = auth_ratios(rows)
    met, details = auth_goals(ratios, rows)
    return {
        "about": target.about,
        "notes": AUTH_NOTE,
        "member": {"name": MEMBER[0], "db": db, "security_members": [MEMBER[0]]},
        "checks": checks,
        "generator_ceiling": ceiling,
        "rows": rows,
        "ratios_to_admin_basic": ratios,
        "logins_per_s": {
            name: rows[name].get("req_per_s", rows[name].get("logins_per_s"))
            for name in rows
            if "login" in name
        },
        "goals": met,
        "goal_details": details,
        **memory.report(),
        "profiles": profiles,
    }


def auth_ratios(rows: dict[str, Any]) -> dict[str, float | None]:
    """Each member variant's GET req/s over the admin's at the same concurrency."""
    out: dict[str, float | None] = {}
    for c in CONCURRENCY:
        base = rows.get(f"get_admin_basic_c{c}", {}).get("req_per_s")
        for variant in AUTH_VARIANTS[1:]:
            value = rows.get(f"get_{variant}_c{c}", {}).get("req_per_s")
            out[f"{variant}_c{c}"] = value / base if value and base else None
    return out


def auth_goals(
    ratios: dict[str, float | None], rows: dict[str, Any]
) -> tuple[dict[str, bool | None], dict[str, Any]]:
    """Issue 9's goal: every member GET at least AUTH_GOAL of the admin's. Rows during which
    other processes took more than DISTURBED_SHARE of a core are named: their ratios are
    skewed either way."""
    below = sorted(k for k, v in ratios.items() if v is None or v < AUTH_GOAL)
    measured = any(v is not None for v in ratios.values())
    met = {"member_gets_at_least_0.9x_admin": (not below) if measured else None}
    disturbed = sorted(
        name
        for name, row in rows.items()
        if name.startswith("get_") and (row.get("other_processes_cpu_share") or 0) > DISTURBED_SHARE
    )
    details = {
        "member_gets_at_least_0.9x_admin": {
            "target_ratio": AUTH_GOAL,
            "rows_below_target": below,
            "counts": "every ratios_to_admin_basic entry (basic, cookie, JWT at 1 and 32 "
            "connections)",
            "disturbed_get_rows": disturbed,
        }
    }
    return met, details


# --- profiles --------------------------------------------------------------------------------


async def profile(
    target: Target, paths: Path, workload: Workload, client: Client, names: dict[str, str],
    options: Options,
) -> dict[str, Any]:  # fmt: skip
    """py-spy under the 32-client GET and PUT loads: extra runs, so no row is perturbed."""
    c, db = max(CONCURRENCY), names["put_profile"]
    size = min(workload.docs, PUT_POOL_PER_CLIENT * c)
    pool = await put_pool(client, db, workload, size, target.directory / "put-profile.txt")
    loads = {
        f"get_c{c}": Load(["get", str(paths)]),
        f"put_c{c}": Load(["put", str(pool), db, "1"]),
    }
    return await profile_loads(target, loads, options)


@dataclass(frozen=True, slots=True)
class Load:
    """One wrk load to profile: the Lua script's arguments, credentials (None: the target's
    admin) and the script."""

    args: list[str]
    headers: list[str] | None = None
    script: Path = LUA


async def profile_loads(target: Target, loads: dict[str, Load], options: Options) -> dict[str, Any]:
    """py-spy on the server under each of ``loads`` at 32 connections, one after the other."""
    assert options.profile_dir is not None and target.pid is not None
    options.profile_dir.mkdir(parents=True, exist_ok=True)
    c = max(CONCURRENCY)
    out = {}
    for name, load_args in loads.items():
        raw = options.profile_dir / f"{target.name}-{name}.txt"
        # --nonblocking: reading the process's memory without pausing it costs the server little.
        command = [py_spy() or "py-spy", "record", "--pid", str(target.pid), "--threads",
                   "--nonblocking", "--rate", str(PROFILE_RATE), "--duration", str(options.seconds),
                   "--format", "raw", "--output", str(raw)]  # fmt: skip
        spy = await asyncio.create_subprocess_exec(
            *command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        await asyncio.sleep(PROFILE_LEAD_S)
        load = await wrk(
            target, c, options.seconds, load_args.args,
            headers=load_args.headers, script=load_args.script,
        )  # fmt: skip
        _, err = await spy.communicate()
        if spy.returncode != 0 or not raw.is_file():
            out[name] = {"error": err.decode()[-300:]}
            continue
        out[name] = {
            "collapsed_stacks": str(raw),
            "req_per_s_while_profiled": load["req_per_s"],
            "server_cpu_share": load["server_cpu_share"],
            "threads": hot_spots(raw, PROFILE_RATE * options.seconds),
        }
    return out


def hot_spots(raw: Path, possible: int, top: int = 12) -> dict[str, Any]:
    """Per thread name (the event loop, the SQLite writer, readers): the share of wall time it
    was seen running, the functions it ran in (self time), and the functions of
    brainlink_docs/ on its stack (inclusive time: the function and what it called), as shares
    of its samples."""
    seen: Counter[str] = Counter()
    own: dict[str, Counter[str]] = {}
    under: dict[str, Counter[str]] = {}
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if len(frames) < 2:
            continue
        # "thread (1234): sqlite-writer": per-database threads share a name; sum them.
        thread = frames[0].partition("): ")[2] or frames[0]
        seen[thread] += int(count)
        own.setdefault(thread, Counter())[strip_line(frames[-1])] += int(count)
        # Outermost first, each function once however deep it recurses.
        ours = dict.fromkeys(package_frame(f) for f in frames[1:] if "brainlink_docs/" in f)
        under.setdefault(thread, Counter()).update(dict.fromkeys(ours, int(count)))
    return {
        thread: {
            "running_share_of_wall": round(n / possible, 3),
            "top_self": [(f, round(k / n, 3)) for f, k in own[thread].most_common(top)],
            "top_inclusive_brainlink_docs": [
                (f, round(k / n, 3)) for f, k in under[thread].most_common(top)
            ],
        }
        for thread, n in seen.most_common()
    }


def package_frame(frame: str) -> str:
    """``fn (.../brainlink_docs/http/auth.py:123)`` -> ``http/auth.py:fn``."""
    name, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0].rpartition("brainlink_docs/")[2]
    return f"{path}:{name}"


def strip_line(frame: str) -> str:
    """``fn (path/to/file.py:123)`` -> ``fn (file.py)``: aggregate over lines of a function."""
    name, _, where = frame.partition(" (")
    file = where.rsplit(":", 1)[0].rsplit("/", 1)[-1]
    return f"{name} ({file})" if where else name


# --- all targets -----------------------------------------------------------------------------


def run_target(
    name: str,
    options: Options,
    workload: Workload,
    directory: Path,
    cpus: set[int] | None,
    log: Log,
    big: bool = False,
) -> dict[str, Any]:
    """Start one target, measure it, stop it; a failure becomes an ``error`` entry."""
    directory.mkdir(parents=True, exist_ok=True)
    waited = wait_for_quiet(name, log)
    began = time.perf_counter()
    target = None
    try:
        if name == "pouchdb_server":
            target = start_pouchdb_server(directory, cpus)
        elif name == "couchdb":
            assert options.couchdb_url is not None
            target = couchdb_target(options.couchdb_url, directory)
        elif name == AUTH_TARGET:
            target = start_ours_auth(directory, cpus)
        else:
            synchronous = "NORMAL" if name == "ours_normal" else "FULL"
            target = start_ours(name, directory, synchronous, cpus)
        log(f"{name}: {target.url}")
        if big:
            result = asyncio.run(measure_big(target, workload, log))
        elif name == AUTH_TARGET:
            result = asyncio.run(measure_auth(target, workload, options, log))
        else:
            result = asyncio.run(measure(target, workload, options, log))
    except Exception as exc:  # one target failing must not lose the others' figures
        log(f"{name} failed: {exc!r}")
        result = {"error": repr(exc)}
    finally:
        if target is not None and target.process is not None:
            stop_process(target.process)
    result["wall_seconds"] = time.perf_counter() - began
    result["waited_for_quiet_seconds"] = waited
    result["max_other_processes_cpu_share"] = busiest_neighbours(result)
    if (result["max_other_processes_cpu_share"] or 0) > DISTURBED_SHARE:
        log(f"warning: other processes used a core's {result['max_other_processes_cpu_share']:.0%} "
            f"during {name}; its figures are skewed")  # fmt: skip
    return result


def wait_for_quiet(name: str, log: Log, limit: float = QUIET_WAIT_S) -> float:
    """Wait, up to ``limit`` seconds, until other processes leave the CPUs alone; seconds
    waited.

    On a shared machine another job can take a core for minutes; starting a target then would
    measure that job as much as the server.
    """
    began = time.monotonic()
    while time.monotonic() - began < limit:
        own, busy, t0 = own_cpu_seconds(), machine_busy_seconds(), time.perf_counter()
        time.sleep(QUIET_SAMPLE_S)
        others = machine_busy_seconds() - busy - (own_cpu_seconds() - own)
        if others / (time.perf_counter() - t0) < DISTURBED_SHARE:
            break
        if time.monotonic() - began < QUIET_SAMPLE_S * 1.5:
            log(f"{name}: waiting up to {limit:.0f} s for other processes to quiet down")
    return time.monotonic() - began


def busiest_neighbours(result: dict[str, Any]) -> float | None:
    """The most CPU other processes took during any row or ceiling run of one target."""
    runs = [*result.get("rows", {}).values(), *result.get("generator_ceiling", {}).values()]
    shares = [r["other_processes_cpu_share"] for r in runs if r.get("other_processes_cpu_share")]
    return max(shares, default=None)


def run(
    options: Options, workdir: Path, write_workload: Callable[..., Any], log: Log
) -> dict[str, Any]:
    """The whole server benchmark; ``write_workload`` is scripts/bench's generator. With no
    targets and ``options.auth``, only the accounts rows (and only the GET db's documents)."""
    began = time.perf_counter()
    digest = source_digest()
    server_cpus, generator_cpus = cpu_split()
    original = os.sched_getaffinity(0)
    if generator_cpus is not None:
        # Before any thread starts, so wrk, py-spy and the client's threads inherit it.
        os.sched_setaffinity(0, generator_cpus)
    try:
        docs = options.docs if options.targets else min(options.docs, GET_DB_DOCS)
        workload = generate(workdir / "server", docs, write_workload, log)
        targets = {
            name: run_target(name, options, workload, workdir / "server" / name, server_cpus, log)
            for name in options.targets
        }
        auth = None
        if options.auth:
            directory = workdir / "server" / AUTH_TARGET
            auth = run_target(AUTH_TARGET, options, workload, directory, server_cpus, log)
        workload.path.unlink()
        big = None
        if options.big:
            big_load = generate(workdir / "server-1m", BIG_SIZE, write_workload, log)
            big = {
                name: run_target(
                    name,
                    options,
                    big_load,
                    workdir / "server-1m" / name,
                    server_cpus,
                    log,
                    big=True,
                )
                for name in options.targets
                if name in ("ours", "pouchdb_server")
            }
            big_load.path.unlink()
    finally:
        os.sched_setaffinity(0, original)
    report: dict[str, Any] = {
        "workload": {
            "docs": workload.docs,
            "avg_doc_bytes": workload.avg_doc_bytes,
            "bulk_batch_size": 1_000,
            "get_db_docs": min(GET_DB_DOCS, workload.docs),
            "put_pool_per_client": PUT_POOL_PER_CLIENT,
            "concurrency": list(CONCURRENCY),
            "seconds_per_wrk_row": options.seconds,
            "get_warmup_seconds": warmup_seconds(options.seconds),
            "pinning": {
                "server_cpus": sorted(server_cpus) if server_cpus else None,
                "generator_cpus": sorted(generator_cpus) if generator_cpus else None,
            },
            "wrk": wrk_version(),
            "notes": CEILING_NOTE,
        }
    }
    if options.targets:
        ratios = compare(targets, big)
        met, details = goals(targets, ratios, big)
        report |= {
            "targets": targets,
            "targets_1m": big,
            "ratio_conventions": RATIO_CONVENTIONS,
            "ratios": ratios,
            "goals": met,
            "goal_details": details,
        }
    if auth is not None:
        report["auth"] = auth
    runs = [*targets.items(), *((f"1m_{k}", v) for k, v in (big or {}).items())]
    runs += [(AUTH_TARGET, auth)] if auth is not None else []
    report["disturbed_targets"] = [
        name
        for name, result in runs
        if (result.get("max_other_processes_cpu_share") or 0) > DISTURBED_SHARE
    ]
    return tidy(
        report
        | {
            "server_source_sha256": digest,
            "server_source_changed_during_run": source_digest() != digest,
            "elapsed_seconds": time.perf_counter() - began,
        }
    )


def tidy(value: Any) -> Any:
    """Floats to SIGNIFICANT_DIGITS (timer noise is not data), through dicts, lists, tuples."""
    if isinstance(value, float):
        return float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    if isinstance(value, dict):
        return {k: tidy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [tidy(v) for v in value]
    return value


def generate(directory: Path, n: int, write_workload: Callable[..., Any], log: Log) -> Workload:
    directory.mkdir(parents=True, exist_ok=True)
    log(f"server: generating {n} documents")
    made = write_workload(directory, n, 0, 0)
    return Workload(Path(made.plan["workload"]), n, made.avg_doc_bytes)


def wrk_version() -> str | None:
    wrk_path = shutil.which("wrk")
    if wrk_path is None:
        return None
    out = subprocess.run([wrk_path, "--version"], capture_output=True, text=True, check=False)
    return (
        (out.stdout or out.stderr).splitlines()[0].strip() if (out.stdout or out.stderr) else None
    )


# --- ratios and goals ------------------------------------------------------------------------


def compare(targets: dict[str, Any], big: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for ours in ("ours", "ours_normal"):
        for other in ("pouchdb_server", "couchdb"):
            a, b = targets.get(ours, {}), targets.get(other, {})
            if "rows" in a and "rows" in b:
                out[f"{ours}_vs_{other}"] = row_ratios(a, b)
    if big and "rows" in big.get("ours", {}) and "rows" in big.get("pouchdb_server", {}):
        out["1m_ours_vs_pouchdb_server"] = row_ratios(big["ours"], big["pouchdb_server"])
    return out


def row_ratios(ours: dict[str, Any], other: dict[str, Any]) -> dict[str, float | None]:
    def ratio(x: float | None, y: float | None) -> float | None:
        return None if not x or not y else x / y

    out: dict[str, float | None] = {}
    a, b = ours["rows"], other["rows"]
    for row, metric in THROUGHPUT.items():
        if row in a or row in b:
            out[f"{row}_{metric}"] = ratio(a.get(row, {}).get(metric), b.get(row, {}).get(metric))
    for row in LATENCY_ROWS:
        if row in a or row in b:
            for p in ("p50", "p99"):
                key = f"{p}_ms"
                out[f"{row}_{p}_latency"] = ratio(b.get(row, {}).get(key), a.get(row, {}).get(key))
    out["peak_rss"] = ratio(ours.get("peak_rss_mb"), other.get("peak_rss_mb"))
    return out


def goals(
    targets: dict[str, Any], ratios: dict[str, Any], big: dict[str, Any] | None
) -> tuple[dict[str, bool | None], dict[str, Any]]:
    """The issue's goals, judged on ``ours`` (the default, FULL); ours_normal's in the details."""
    met: dict[str, bool | None] = {}
    details: dict[str, Any] = {}
    for name in ("ours", "ours_normal"):
        suffix = "" if name == "ours" else " (ours_normal)"
        rows = targets.get(name, {}).get("rows", {})
        vs = ratios.get(f"{name}_vs_pouchdb_server")
        speed = {k: v for k, v in (vs or {}).items() if k != "peak_rss"}
        below = sorted(k for k, v in speed.items() if v is None or v < RATIO_GOAL)
        p99 = rows.get("get_c32", {}).get("p99_ms")
        bulk = rows.get("bulk_docs", {}).get("docs_per_s")
        rss = ((big or {}).get(name) or {}).get("peak_rss_mb") if name == "ours" else None
        judged = {
            "at_least_2x_pouchdb_server_every_row": None if vs is None else not below,
            "get_p99_under_5ms_32_clients": None if p99 is None else p99 < GET_P99_MS_GOAL,
            "bulk_docs_at_least_14000_docs_per_s": None
            if bulk is None
            else bulk >= BULK_DOCS_PER_S_GOAL,
        }
        if name == "ours":
            judged["rss_under_150mb_serving_1m_docs"] = (
                None if rss is None else rss < RSS_1M_MB_GOAL
            )
            met = judged
        details[name] = {
            "judged": judged,
            "at_least_2x_pouchdb_server_every_row": {
                "target_ratio": RATIO_GOAL,
                "rows_below_target": below,
                "counts": "every *_per_s and *_latency ratio of "
                + f"{name}_vs_pouchdb_server{suffix}",
            },
            "get_p99_under_5ms_32_clients": {"target_ms": GET_P99_MS_GOAL, "p99_ms": p99},
            "bulk_docs_at_least_14000_docs_per_s": {
                "target": BULK_DOCS_PER_S_GOAL,
                "docs_per_s": bulk,
            },
        }
        if name == "ours":
            details[name]["rss_under_150mb_serving_1m_docs"] = {
                "target_mb": RSS_1M_MB_GOAL,
                "peak_rss_mb": rss,
                "measured": "VmHWM of the server process over loading 1M docs and scanning them",
            }
    return met, details
