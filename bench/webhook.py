"""Benchmark of the WeChat webhook's ingest path on loopback, with wrk.

    .venv/bin/python -m bench.webhook [--duration 10] [--connections 32] [--threads 2]
                                      [--mode plaintext|safe|both] [--json OUT]
                                      [--skip-werobot] [--minhu-workers N]

For each target (minhu in plaintext mode, minhu in safe mode, and a WeRoBot
echo bot under gunicorn in the same modes) it:

1. starts the server in a subprocess on a free loopback port (minhu with a
   fresh SQLite database in a temporary directory) and waits until it is ready;
2. pre-generates unique signed WeChat text messages (one MsgId each, many
   openids, residents' complaints in Chinese), encrypted one by one in safe
   mode, and runs a wrk warm-up over its own set of them;
3. sizes the measured set from the warm-up rate so that the measured run does
   not run out of messages (a wrap is counted and reported as repeats);
4. runs wrk at a fixed concurrency with a Lua script that sends a different
   message with every request, and reads requests/s, latency percentiles,
   non-200 answers and socket errors;
5. for minhu, stops the server gracefully and counts the measured messages in
   the inbound_messages table (by status) against the 200 answers.

Nothing is installed at run time. wrk must be on PATH (``apt-get install
wrk``); the WeRoBot baseline needs ``werobot`` and ``gunicorn`` in the venv.
Everything listens on 127.0.0.1 only, and every subprocess is stopped in a
``finally``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import math
import os
import platform
import random
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from integrations.wechat import WeChatCrypto, build_xml, signature

REPO = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "wrk_walk.lua"
VENV_BIN = Path(sys.executable).parent

TOKEN = "minhu-bench-token"
APP_ID = "wxbench0000000001"
ACCOUNT = "gh_5f3e2a1b9c0d"
# 43 characters of base64 (a fixed test key, not a secret).
AES_KEY = base64.b64encode(hashlib.sha256(b"minhu bench").digest()).decode()[:43]

# WeChat MsgIds are 64-bit integers; each set of messages gets its own block.
MSGID_BASE = 24_600_000_000_000_000
MSGID_BLOCK = 100_000_000

TARGET_P99_MS = 20.0
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0

# -- messages ------------------------------------------------------------------------------

_PLACES = (
    "幸福里小区3号楼门口", "和平路与建设路交叉口", "阳光花园东门", "人民公园南侧",
    "新华街道办事处门口", "滨江小区地下车库入口", "第二中学后门", "翠湖苑12栋楼下",
    "解放路菜市场旁边", "光明社区卫生服务站旁", "锦绣家园北区", "长江路公交站",
)
_DURATIONS = ("三天", "一个星期", "半个月", "两个多月", "好几天", "十来天")
_COMPLAINTS = (
    "{p}的路灯坏了{d}了，晚上一片漆黑，老人孩子出门很不安全，请尽快派人修一下。",
    "{p}有人乱堆建筑垃圾，已经{d}没人清理，味道很大，麻烦管一管。",
    "{p}下水道堵了{d}，污水漫到路面上，走路都没法走，请相关部门处理。",
    "{p}每天晚上十点以后还在跳广场舞，音响很大，持续{d}了，严重影响休息。",
    "{p}路面有个大坑，{d}了还没修，电动车经过很危险，昨天还有人摔倒。",
    "{p}的垃圾桶{d}没人清运，苍蝇蚊子很多，天热了味道更重。",
    "{p}有车辆长期占用消防通道，已经{d}了，请执法部门来看一下。",
    "投诉一下，{p}的施工工地半夜还在打桩，吵了{d}了，根本睡不着觉。",
    "{p}的自来水发黄有异味，已经{d}了，物业说不归他们管，该找谁？",
    "建议在{p}加个红绿灯，上下班高峰太乱了，{d}前差点出事故。",
    "咨询一下，居住证到期了怎么续办？需要带哪些材料，在{p}附近能办吗？",
    "表扬一下{p}的网格员小王，{d}前帮我们解决了楼道漏水的问题，非常负责。",
)
_OPENID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def openids(count: int, seed: int) -> list[str]:
    """WeChat-looking openids: 28 characters starting with 'o'."""
    rng = random.Random(seed)
    return ["o" + "".join(rng.choice(_OPENID_CHARS) for _ in range(27)) for _ in range(count)]


def resident_text(rng: random.Random) -> str:
    return rng.choice(_COMPLAINTS).format(p=rng.choice(_PLACES), d=rng.choice(_DURATIONS))


def write_requests(
    path: Path, *, count: int, block: int, mode: str, users: list[str], seed: int
) -> tuple[int, int]:
    """Write ``count`` signed requests, one per line as ``path<TAB>body``.

    Every message has its own MsgId (``MSGID_BASE + block * MSGID_BLOCK + i``),
    timestamp and nonce, so its own signature; in safe mode its body is
    encrypted on its own and carries its own msg_signature. Returns the
    MsgId range [first, last].
    """
    if count >= MSGID_BLOCK:
        raise ValueError("too many messages for one block")
    rng = random.Random(seed * 1_000_003 + block)
    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID) if mode == "safe" else None
    first = MSGID_BASE + block * MSGID_BLOCK
    now = int(time.time())
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            openid = users[(i * 7919) % len(users)]  # a stride: neighbours differ
            timestamp = str(now)
            nonce = str(rng.randrange(10**8, 10**10))
            inner = build_xml(
                {
                    "ToUserName": ACCOUNT,
                    "FromUserName": openid,
                    "CreateTime": now,
                    "MsgType": "text",
                    "Content": resident_text(rng),
                    "MsgId": first + i,
                }
            )
            query = (
                f"signature={signature(TOKEN, timestamp, nonce)}"
                f"&timestamp={timestamp}&nonce={nonce}&openid={openid}"
            )
            if crypto is None:
                body = inner
            else:
                encrypt = crypto.encrypt(inner)
                body = build_xml({"ToUserName": ACCOUNT, "Encrypt": encrypt})
                query += f"&encrypt_type=aes&msg_signature={crypto.sign(timestamp, nonce, encrypt)}"
            assert "\n" not in body and "\t" not in body
            out.write(f"/wechat?{query}\t{body}\n")
    return first, first + count - 1


# -- processes -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tree_cpu_seconds(root: int) -> float:
    """User + system CPU time of ``root`` and all its live descendants."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in tree:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def log_lines(self) -> int:
        """Lines the server logged, less its one startup line."""
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return 0
        return len([ln for ln in lines if not ln.startswith("minhu listening on ")])

    def stop(self) -> int | None:
        """SIGTERM to the process group (graceful: minhu drains its turns), then SIGKILL."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        # Workers left behind by a master that died first.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        return self.process.returncode


def _clean_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MINHU_", "BENCH_")) and k not in ("PYTHONPATH",)
    }
    env["PYTHONPATH"] = str(REPO)
    return env


def _spawn(name: str, argv: list[str], env: dict[str, str], cwd: Path) -> Server:
    port = int(argv[argv.index("--port") + 1]) if "--port" in argv else int(env["BENCH_PORT"])
    log = cwd / f"{name}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    return Server(name=name, process=process, port=port, log=log)


def _wait_ready(server: Server, path: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    url = f"http://127.0.0.1:{server.port}{path}"
    last = ""
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"{server.name} exited early:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} not ready at {url} ({last}):\n{server.log_tail()}")


def minhu_env(mode: str, db: Path) -> dict[str, str]:
    env = _clean_env()
    env.update(
        {
            "MINHU_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
            "MINHU_LOG_LEVEL": "WARNING",
            "MINHU_WECHAT_TOKEN": TOKEN,
            "MINHU_WECHAT_APP_ID": APP_ID,
            "MINHU_WECHAT_ACCOUNT_ID": ACCOUNT,
            # A closed loopback port: text replies go back passively, nothing is pushed.
            "MINHU_WECHAT_API_BASE": f"http://127.0.0.1:{free_port()}",
            "MINHU_RASA_URL": f"http://127.0.0.1:{free_port()}",
            "MINHU_SIMULATOR_ENABLED": "false",
            "MINHU_INSTANCE_NAME": "bench",
        }
    )
    if mode == "safe":
        env["MINHU_WECHAT_AES_KEY"] = AES_KEY
    return env


def start_minhu(
    mode: str, workdir: Path, workers: int, *, src: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> tuple[Server, Path, str]:
    """minhu on a free port; ``src``: run another source tree of minhu (e.g. a
    ``git archive`` of an older commit) with this venv's packages; ``extra_env``:
    more environment variables for it (``--minhu-env``)."""
    db = workdir / f"minhu-{mode}.db"
    env = minhu_env(mode, db)
    env.update(extra_env or {})
    port = free_port()
    python = str(VENV_BIN / "python")
    # The venv's `minhu` script, or the same CLI from another source tree.
    minhu = [str(VENV_BIN / "minhu")]
    where = ""
    if src is not None:
        minhu = [python, "-m", "bot.wiring.cli"]
        env["PYTHONPATH"] = f"{src}{os.pathsep}{REPO}"
        where = f" from {src}"
    argv = [*minhu, "serve", "--host", "127.0.0.1", "--port", str(port)]
    if workers > 1:
        argv += ["--workers", str(workers)]
    config = (f"minhu serve --workers {max(workers, 1)} (uvicorn, uvloop + httptools), "
              f"SQLite WAL{where}")
    server = _spawn(f"minhu-{mode}", argv, env, workdir)
    _wait_ready(server, "/readyz")
    return server, db, config


def start_werobot(mode: str, workdir: Path, workers: int, session: str) -> tuple[Server, str]:
    env = _clean_env()
    port = free_port()
    env.update(
        {
            "BENCH_PORT": str(port),
            "BENCH_WEROBOT_TOKEN": TOKEN,
            "BENCH_WEROBOT_APP_ID": APP_ID,
            "BENCH_WEROBOT_SESSION": session,
        }
    )
    if mode == "safe":
        env["BENCH_WEROBOT_AES_KEY"] = AES_KEY
    gunicorn = VENV_BIN / "gunicorn"
    if not gunicorn.exists():
        raise RuntimeError(
            f"{gunicorn} is missing: `{VENV_BIN}/pip install gunicorn` (or use --skip-werobot)"
        )
    argv = [
        str(gunicorn), "--workers", str(workers), "--worker-class", "sync",
        "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
        "--chdir", str(REPO), "bench.werobot_echo:app",
    ]
    server = _spawn(f"werobot-{mode}", argv, env, workdir)
    ts, nonce = str(int(time.time())), "1234567"
    _wait_ready(server, f"/wechat?signature={signature(TOKEN, ts, nonce)}"
                        f"&timestamp={ts}&nonce={nonce}&echostr=ready")
    import werobot

    sessions = "SQLite session storage (WeRoBot's default)" if session == "sqlite" else (
        "sessions off")
    config = (f"WeRoBot {werobot.__version__} echo (@robot.text → message.content, {sessions}), "
              f"gunicorn {_version('gunicorn')} --workers {workers} --worker-class sync")
    return server, config


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


# -- wrk -----------------------------------------------------------------------------------


@dataclass
class WrkRun:
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    mean_ms: float
    errors: dict[str, int]
    status_200: int
    passive_xml: int
    status_other: int
    sent: int
    wraps: int
    messages_loaded: int
    wrk_cpu_s: float
    server_cpu_s: float

    @property
    def socket_errors(self) -> int:
        return sum(v for k, v in self.errors.items() if k != "status")


def run_wrk(
    wrk: str, url: str, requests_file: Path, *, threads: int, connections: int,
    duration: float, server_pid: int,
) -> WrkRun:
    argv = [
        wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s",
        "--timeout", "5s", "--latency", "-s", str(LUA), url, "--",
        str(requests_file), str(threads),
    ]
    before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before = _tree_cpu_seconds(server_pid)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 120)
    server_cpu = _tree_cpu_seconds(server_pid) - server_before
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = (after_children.ru_utime - before_children.ru_utime) + (
        after_children.ru_stime - before_children.ru_stime)
    line = next(
        (ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_RESULT ")), None
    )
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    data = json.loads(line.split(" ", 1)[1])
    lat = data["latency_us"]
    duration_s = data["duration_us"] / 1e6
    return WrkRun(
        requests=data["requests"],
        duration_s=duration_s,
        rps=data["requests"] / duration_s if duration_s else 0.0,
        p50_ms=lat["p50"] / 1000,
        p90_ms=lat["p90"] / 1000,
        p99_ms=lat["p99"] / 1000,
        p999_ms=lat["p999"] / 1000,
        max_ms=lat["max"] / 1000,
        mean_ms=lat["mean"] / 1000,
        errors=data["errors"],
        status_200=data["status_200"],
        passive_xml=data["passive_xml"],
        status_other=data["status_other"],
        sent=data["sent"],
        wraps=data["wraps"],
        messages_loaded=data["messages_loaded"],
        wrk_cpu_s=wrk_cpu,
        server_cpu_s=server_cpu,
    )


# -- durability ----------------------------------------------------------------------------


def count_stored(db: Path, first: int, last: int) -> dict[str, int]:
    """Rows of the measured MsgIds in inbound_messages, by status."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        rows = conn.execute(
            "SELECT status, count(*) FROM inbound_messages "
            "WHERE channel = 'wechat' AND account = ? "
            "AND CAST(message_id AS INTEGER) BETWEEN ? AND ? GROUP BY status",
            (ACCOUNT, first, last),
        ).fetchall()
        replies = conn.execute(
            "SELECT count(*) FROM inbound_messages WHERE CAST(message_id AS INTEGER) "
            "BETWEEN ? AND ? AND passive_reply IS NOT NULL",
            (first, last),
        ).fetchone()[0]
        conversations = conn.execute("SELECT count(*) FROM conversations").fetchone()[0]
        pushes = conn.execute("SELECT count(*) FROM deliveries").fetchone()[0]
    counts = {str(status): int(n) for status, n in rows}
    counts["total"] = sum(counts.values())
    counts["with_passive_reply"] = int(replies)
    counts["conversations"] = int(conversations)
    counts["outbox_rows"] = int(pushes)
    return counts


# -- one target ----------------------------------------------------------------------------


@dataclass
class Result:
    target: str
    mode: str
    config: str
    connections: int
    threads: int
    duration_s: float
    warmup_rps: float
    messages: int
    run: WrkRun | None = None
    stored: dict[str, int] | None = None
    loadavg_before: float = 0.0
    server_exit: int | None = None
    server_log_lines: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def durable_ok(self) -> bool | None:
        if self.stored is None or self.run is None:
            return None
        return self.stored.get("finished", 0) >= self.run.status_200

    def row(self) -> dict[str, Any]:
        r = self.run
        assert r is not None
        stored = "n/a (stores nothing)"
        if self.stored is not None:
            stored = f"{self.stored.get('finished', 0)}/{r.status_200}"
        return {
            "target": f"{self.target} {self.mode}",
            "msgs/s": f"{r.rps:,.0f}",
            "p50 ms": f"{r.p50_ms:.2f}",
            "p99 ms": f"{r.p99_ms:.2f}",
            "non-200": str(r.status_other),
            "sock err": str(r.socket_errors),
            "repeats": str(max(0, r.sent - r.messages_loaded) if r.wraps else 0),
            "CPU ms/msg": f"{1000 * r.server_cpu_s / r.requests:.2f}" if r.requests else "-",
            "stored/acked": stored,
        }


def bench_target(
    target: str, mode: str, args: argparse.Namespace, wrk: str, workdir: Path, block: int,
) -> Result:
    users = openids(args.users, seed=args.seed)
    server: Server | None = None
    db: Path | None = None
    result: Result | None = None
    first = last = 0
    try:
        if target == "minhu":
            server, db, config = start_minhu(mode, workdir, args.minhu_workers,
                                             src=args.minhu_src, extra_env=args.minhu_env)
            if args.minhu_env:
                config += " with " + " ".join(f"{k}={v}" for k, v in args.minhu_env.items())
        else:
            server, config = start_werobot(mode, workdir, args.werobot_workers,
                                           args.werobot_session)
        url = f"http://127.0.0.1:{server.port}"
        print(f"  {target} {mode}: {config}, port {server.port}", flush=True)

        warm_file = workdir / f"{target}-{mode}-warmup.txt"
        warm_count = max(2000, round(args.warmup * args.warmup_rate_guess))
        write_requests(warm_file, count=warm_count, block=block, mode=mode, users=users,
                       seed=args.seed)
        warm = run_wrk(wrk, url, warm_file, threads=args.threads,
                       connections=args.connections, duration=args.warmup,
                       server_pid=server.process.pid)
        warm_file.unlink()
        print(f"    warm-up {args.warmup:g}s: {warm.rps:,.0f} req/s, "
              f"p99 {warm.p99_ms:.1f} ms", flush=True)

        count = args.messages or max(
            20_000, math.ceil(warm.rps * args.duration * args.headroom)
        )
        run_file = workdir / f"{target}-{mode}-run.txt"
        first, last = write_requests(run_file, count=count, block=block + 1, mode=mode,
                                     users=users, seed=args.seed)
        result = Result(target=target, mode=mode, config=config,
                        connections=args.connections, threads=args.threads,
                        duration_s=args.duration, warmup_rps=warm.rps, messages=count,
                        loadavg_before=os.getloadavg()[0])
        result.run = run_wrk(wrk, url, run_file, threads=args.threads,
                             connections=args.connections, duration=args.duration,
                             server_pid=server.process.pid)
        run_file.unlink()
        r = result.run
        if r.wraps:
            result.notes.append(
                f"ran out of messages: {r.sent - r.messages_loaded} requests repeated a "
                "message (served by the dedup path); raise --messages"
            )
        print(f"    measured {args.duration:g}s (1-min load average before: "
              f"{result.loadavg_before:.2f}): {r.rps:,.0f} req/s, p50 {r.p50_ms:.2f} ms, "
              f"p99 {r.p99_ms:.2f} ms, 200s {r.status_200}, other {r.status_other}, "
              f"socket errors {r.socket_errors}", flush=True)
    finally:
        if server is not None:
            code = server.stop()
            if result is not None:
                result.server_exit = code
                result.server_log_lines = server.log_lines()
                if server.log_lines():
                    result.notes.append(f"server log tail: {server.log_tail(5)!r}")
    assert result is not None and result.run is not None
    r = result.run
    if db is not None:
        result.stored = count_stored(db, first, last)
        s = result.stored
        print(f"    stored: {s.get('finished', 0)} finished, {s.get('accepted', 0)} accepted "
              f"(unfinished), {s.get('failed', 0)} failed; 200 answers {r.status_200}; "
              f"passive replies stored {s['with_passive_reply']}", flush=True)
        if not result.durable_ok:
            result.notes.append("DURABILITY: fewer finished rows than 200 answers")
    return result


# -- report --------------------------------------------------------------------------------


def table(results: list[Result]) -> str:
    rows = [r.row() for r in results if r.run is not None]
    if not rows:
        return "(no results)"
    headers = list(rows[0])
    widths = {h: max(len(h), *(len(row[h]) for row in rows)) for h in headers}
    out = ["| " + " | ".join(h.ljust(widths[h]) for h in headers) + " |"]
    out.append("|" + "|".join("-" * (widths[h] + 2) for h in headers) + "|")
    for row in rows:
        out.append("| " + " | ".join(row[h].ljust(widths[h]) for h in headers) + " |")
    return "\n".join(out)


def verdicts(results: list[Result]) -> list[str]:
    lines = []
    by = {(r.target, r.mode): r for r in results if r.run is not None}
    for mode in ("plaintext", "safe"):
        mine = by.get(("minhu", mode))
        base = by.get(("werobot", mode))
        if mine is None or mine.run is None:
            continue
        p99_ok = mine.run.p99_ms < TARGET_P99_MS
        text = f"minhu {mode}: p99 {mine.run.p99_ms:.2f} ms {'<' if p99_ok else '>='} "
        text += f"{TARGET_P99_MS:g} ms"
        ok = p99_ok and bool(mine.durable_ok)
        if base is not None and base.run is not None:
            ratio = mine.run.rps / base.run.rps if base.run.rps else 0.0
            ok = ok and ratio >= 1.0
            text += f"; {ratio:.2f}x WeRoBot's {base.run.rps:,.0f} msgs/s"
        text += f"; durable: {'yes' if mine.durable_ok else 'NO'}"
        lines.append(f"{'MET   ' if ok else 'MISSED'} {text}")
    return lines


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    wrk_version = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        wrk_version = subprocess.run(
            ["wrk", "--version"], capture_output=True, text=True, timeout=5
        ).stdout.splitlines()[0].split(" Copyright")[0]
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "wrk": wrk_version,
        "uvicorn": _version("uvicorn"),
        "fastapi": _version("fastapi"),
        "sqlalchemy": _version("sqlalchemy"),
    }


def need_wrk() -> str | None:
    found = shutil.which("wrk")
    if found:
        return found
    print(
        "wrk is not installed. It comes from Debian's packages:\n"
        "    sudo apt-get update && sudo apt-get install -y wrk\n"
        "(this benchmark installs nothing by itself)",
        file=sys.stderr,
    )
    return None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.webhook", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds (10)")
    p.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds (3)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    p.add_argument("--messages", type=int, default=0,
                   help="messages in the measured set (0: warm-up rate x duration x headroom)")
    p.add_argument("--headroom", type=float, default=1.6,
                   help="measured set = warm-up rate x duration x this (1.6)")
    p.add_argument("--warmup-rate-guess", type=float, default=6000.0, help=argparse.SUPPRESS)
    p.add_argument("--users", type=int, default=2000, help="distinct openids (2000)")
    p.add_argument("--mode", choices=("plaintext", "safe", "both"), default="both")
    p.add_argument("--json", type=Path, default=None, metavar="OUT", help="write results here")
    p.add_argument("--skip-werobot", action="store_true", help="do not run the WeRoBot baseline")
    p.add_argument("--skip-minhu", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--werobot-workers", type=int, default=2,
                   help="gunicorn sync workers for WeRoBot (2: one per core)")
    p.add_argument("--werobot-session", choices=("off", "sqlite"), default="off",
                   help="WeRoBot session storage (off: a pure echo)")
    p.add_argument("--minhu-workers", type=int, default=2,
                   help="uvicorn worker processes of `minhu serve --workers N` (2: one per "
                        "core, as WeRoBot's gunicorn gets)")
    p.add_argument("--minhu-src", type=Path, default=None, metavar="DIR",
                   help="run minhu from this source tree (e.g. `git archive` of a commit)")
    p.add_argument("--minhu-env", action="append", default=[], metavar="NAME=VALUE",
                   help="an environment variable for minhu, e.g. MINHU_STATE_CACHE_SIZE=0 "
                        "(repeatable)")
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = p.parse_args(argv)
    pairs = [item.partition("=") for item in args.minhu_env]
    if any(not name or not sep for name, sep, _ in pairs):
        p.error("--minhu-env takes NAME=VALUE")
    args.minhu_env = {name: value for name, _, value in pairs}
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = need_wrk()
    if wrk is None:
        return 2
    modes = ["plaintext", "safe"] if args.mode == "both" else [args.mode]
    targets = [] if args.skip_minhu else ["minhu"]
    if not args.skip_werobot:
        targets.append("werobot")
    info = machine()
    print(f"machine: {info['cpus']} CPUs ({info['cpu_model']}), Python {info['python']}, "
          f"{info['wrk']}")
    print(f"load: wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s --latency "
          f"(warm-up {args.warmup:g}s), {args.users} openids, one message per request")
    results: list[Result] = []
    workdir = Path(tempfile.mkdtemp(prefix="minhu-bench-"))
    try:
        block = 0
        for target in targets:
            for mode in modes:
                results.append(bench_target(target, mode, args, wrk, workdir, block))
                block += 2
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(table(results))
    print()
    for result in results:
        print(f"- {result.target} {result.mode}: {result.config}")
        for note in result.notes:
            print(f"    note: {note}")
    lines = verdicts(results)
    if lines:
        print()
        print("target: ≥ WeRoBot's msgs/s in the same mode, p99 < 20 ms, all acked stored")
        for line in lines:
            print(f"  {line}")
    if args.json:
        payload = {
            "machine": info,
            "load": {
                "threads": args.threads, "connections": args.connections,
                "duration_s": args.duration, "warmup_s": args.warmup, "users": args.users,
            },
            "results": [
                {**asdict(r), "durable_ok": r.durable_ok} for r in results
            ],
            "verdicts": lines,
        }
        args.json.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    if any(r.durable_ok is False for r in results):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
