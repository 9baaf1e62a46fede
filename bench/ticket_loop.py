"""How long the ticket loop takes, through a real ``minhu serve`` on loopback.

    .venv/bin/python -m bench.ticket_loop [--tickets 40]

For each of ``--tickets`` residents (a bounded loop), through the simulator's
HTTP API exactly as the page uses it:

- **filing**: the time from the resident's 确认提交 to the passive reply that
  carries the ticket number. It includes the bot filing over HTTP into the
  built-in Open311 service and committing the turn.
- **progress**: the time from a staff member's 派单 on the work-order page
  (an HTTP form post) to the push reaching the resident. It includes the
  service's signed webhook, the bot's status turn, and the outbox's
  customer-service message to the fake WeChat API.

It prints p50/p90/p99 and the maximum of each, as JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.live_server import live_minhu

_NUMBER = re.compile(r"MH\d{12}")


def _option(reply: str, title: str) -> str:
    match = re.search(rf"^(\d+)\. {re.escape(title)}", reply, re.M)
    if match is None:
        raise RuntimeError(f"no option {title!r} in: {reply}")
    return match.group(1)


def _say(http: httpx.Client, user: str, text: str) -> str:
    response = http.post("/simulator/api/text", json={"user": user, "text": text})
    response.raise_for_status()
    reply = response.json().get("reply") or {}
    return str(reply.get("text") or "")


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if match is None:
        raise RuntimeError("no CSRF token on the page")
    return match.group(1)


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {"p50_ms": at(0.5), "p90_ms": at(0.9), "p99_ms": at(0.99),
            "max_ms": round(ordered[-1], 1)}


def run(tickets: int) -> dict[str, Any]:
    filing: list[float] = []
    progress: list[float] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        live_minhu(Path(tmp) / "bench.db", outbox_poll_seconds="1.0") as base,
        httpx.Client(base_url=base, timeout=30) as http,
        httpx.Client(base_url=base, timeout=30, follow_redirects=True) as staff,
    ):
        login = staff.get("/staff/login")
        staff.post("/staff/login", data={
            "csrf_token": _csrf(login.text), "next": "/staff/workorders",
            "username": "dispatcher", "password": "minhu-demo-1",
        }).raise_for_status()
        for n in range(tickets):
            user = http.post("/simulator/api/residents", json={"name": f"压测{n}"}).json()["key"]
            reply = _say(http, user, f"和平路{n + 1}号门口的路灯坏了三天了，晚上很黑")
            for question, answer in (("联系电话", "不留电话"), ("照片", "没有照片")):
                if question in reply:
                    reply = _say(http, user, _option(reply, answer))
            started = time.perf_counter()
            reply = _say(http, user, _option(reply, "确认提交"))
            filing.append((time.perf_counter() - started) * 1000)
            number = _NUMBER.search(reply)
            if number is None:
                raise RuntimeError(f"no ticket number in: {reply}")
            ticket = number.group(0)

            page = staff.get(f"/staff/workorders/{ticket}")
            seen = len(http.get("/simulator/api/transcript", params={"user": user})
                       .json()["entries"])
            started = time.perf_counter()
            staff.post(f"/staff/workorders/{ticket}", data={
                "csrf_token": _csrf(page.text), "to": "已派单", "note": "请尽快处理",
                "department": "housing_construction",
            }).raise_for_status()
            deadline = started + 10
            while time.perf_counter() < deadline:
                entries = http.get("/simulator/api/transcript",
                                   params={"user": user}).json()["entries"]
                if any(ticket in str(e.get("text", "")) and "已派单" in str(e.get("text", ""))
                       for e in entries[seen:]):
                    break
                time.sleep(0.002)
            else:
                raise RuntimeError(f"no progress push for {ticket} within 10 s")
            progress.append((time.perf_counter() - started) * 1000)
    return {"tickets": tickets, "filing": _percentiles(filing),
            "progress": _percentiles(progress)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=40)
    args = parser.parse_args()
    print(json.dumps(run(args.tickets), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
