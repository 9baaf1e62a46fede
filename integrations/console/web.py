"""The staff console at ``/console``: escalated chats, answered by people.

``build_console(desk, tickets, auth, ...)`` gives a router with absolute paths
(include it without a prefix)::

    GET  /console/login, POST /console/login, POST /console/logout
    GET  /console                         the queue(s): waiting time, SLA colour, claim
    GET  /console/queue/partial           the queues alone (the page refreshes them live)
    GET  /console/cases/{case_id}         the conversation, the resident's tickets, actions
    POST /console/cases/{case_id}/claim | transfer | escalate | reply | subscribe
                                  | ticket | supplement | hand-back
    GET  /console/events                  live updates (SSE), ?cursor=N[&case=ID[&watch=IDS]]
    GET  /console/ping                    204 signed in, 401 not (for the page script)
    GET  /console/audit                   the audit log (supervisors, dispatchers, admins)
    GET  /console/static/{name}           the stylesheets and the script

Agents see the agents' queue; supervisors, dispatchers and admins see the
supervisors' queue too. Every POST needs the session's CSRF token; every
page is sent with a Content-Security-Policy that allows scripts from this
origin only (no inline script), so a message can never run code here.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

from bot.errors import (
    BackendError,
    BackendRejected,
    BackendUnavailable,
    HandoffConflict,
    HandoffError,
    HandoffNotFound,
    ReplyWindowClosed,
    TicketNotFound,
    UnsupportedByBackend,
)
from bot.handoff import HandoffDesk
from bot.ports import Tickets
from bot.types import (
    REQUEST_TYPES,
    Channel,
    HandoffCase,
    HandoffQueue,
    HandoffStatus,
    HistoryEntry,
    ReplyWindowInfo,
    TicketDraft,
)
from integrations.staff.accounts import StaffAccount, StaffAccounts
from integrations.staff.sessions import csrf_matches
from integrations.staff.templating import PAGE_HEADERS, StaffTemplates, local_time
from integrations.staff.web import SignedIn, form_text
from integrations.storage.codec import as_utc, utc_now

from .auth import (
    CONSOLE_AREA,
    CSRF_FIELD,
    LOGIN_PATH,
    LOGOUT_PATH,
    ConsoleAuth,
    ConsoleRefusal,
    ConsoleSignInRequired,
    safe_console_next,
)
from .feed import LiveFeed, parse_watch
from .live import ChangeSignal, clean_cursor, event_stream
from .quick_replies import QuickReply
from .views import (
    QUEUE_LABELS,
    case_view,
    entry_view,
    in_progress,
    staff_name,
    ticket_view,
)

__all__ = [
    "CONSOLE_HEADERS",
    "ConsoleConfig",
    "build_console",
]

log = logging.getLogger("minhu.console")

# Console pages run their own script (and only it) and read the live stream.
CONSOLE_HEADERS: dict[str, str] = {
    **PAGE_HEADERS,
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' https: http: data:; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
}
MAX_REPLY_CHARS = 1000
MAX_DESCRIPTION_CHARS = 2000
MAX_CATEGORY_CHARS = 32
MAX_ADDRESS_CHARS = 200
MAX_NOTE_CHARS = 200
MAX_SUPPLEMENT_CHARS = 1000
# In front of a supplement staff add for the resident (the department sees who added it).
SUPPLEMENT_PREFIX = "【人工客服代居民补充】"
_CASE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SUBMISSION_ID = re.compile(r"console-[A-Za-z0-9_-]{8,80}")
_TICKET_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")
_STATIC = {
    "console.css": ("integrations.console", "console.css", "text/css; charset=utf-8"),
    "console.js": ("integrations.console", "console.js", "text/javascript; charset=utf-8"),
    "staff.css": ("integrations.staff", "staff.css", "text/css; charset=utf-8"),
}
# Fixed notices after an action (the query names one; nothing from it is shown).
_NOTICES = {
    "claimed": "已接入会话，现在可以回复居民。",
    "replied": "回复已发出。",
    "subscribed": "已改发订阅消息通知居民。",
    "transferred": "会话已转交。",
    "escalated": "会话已升级到值班长队列。",
    "handed_back": "人工服务已结束，会话已交还智能助手。",
    "signed_in": "",
}
# What a resident says that is not the matter itself (left out of a ticket's description).
_NOT_THE_MATTER = frozenset({"human", "greet", "thank", "goodbye", "affirm", "deny", "cancel"})
_API_PATHS = ("/console/events", "/console/ping", "/console/queue/partial")


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    sla_amber_seconds: float = 120.0
    sla_red_seconds: float = 300.0
    heartbeat_seconds: float = 15.0
    poll_seconds: float = 2.0
    # A live stream ends after this long; the browser reconnects with its cursor.
    stream_seconds: float = 300.0
    quick_replies: tuple[QuickReply, ...] = field(default=())

    @property
    def red(self) -> float:
        return max(self.sla_red_seconds, self.sla_amber_seconds)


def _static(name: str) -> tuple[bytes, str]:
    package, filename, media_type = _STATIC[name]
    return (resources.files(package) / "static" / filename).read_bytes(), media_type


def _minutes_words(seconds: float) -> str:
    if seconds % 60 == 0:
        return f"{int(seconds // 60)} 分钟"
    return f"{int(seconds)} 秒"


class _Console:
    def __init__(
        self,
        desk: HandoffDesk,
        tickets: Tickets,
        auth: ConsoleAuth,
        accounts: StaffAccounts,
        config: ConsoleConfig,
        clock: Callable[[], datetime],
    ) -> None:
        self.desk = desk
        self.tickets = tickets
        self.auth = auth
        self.accounts = accounts
        self.config = config
        self.clock = clock
        self.templates = StaffTemplates("integrations.console")
        self.signal = ChangeSignal()
        self._head = 0
        self._submitted: dict[str, None] = {}  # recent supplement submission ids, oldest first
        desk.add_listener(self.signal.notify)
        self.assets: dict[str, tuple[bytes, str]] = {name: _static(name) for name in _STATIC}
        self.asset_urls = {
            name.replace(".", "_"): (
                f"/console/static/{name}?v={hashlib.sha256(body).hexdigest()[:12]}"
            )
            for name, (body, _) in self.assets.items()
        }

    def now(self) -> datetime:
        return as_utc(self.clock())

    # -- rendering

    def render(
        self,
        name: str,
        who: SignedIn | None,
        *,
        title: str,
        page: str,
        status_code: int = 200,
        events_url: str | None = None,
        cursor: int = 0,
        **extra: Any,
    ) -> Response:
        context = {
            "title": title,
            "page": page,
            "staff": who.account if who else None,
            "csrf_token": who.csrf_token if who else "",
            "assets": self.asset_urls,
            "server_now": self.now().isoformat(),
            "sla_amber": int(self.config.sla_amber_seconds),
            "sla_red": int(self.config.red),
            "events_url": events_url,
            "cursor": cursor,
            **extra,
        }
        return self.templates.render(
            f"console/{name}", context, status_code=status_code, headers=CONSOLE_HEADERS
        )

    def refusal_page(self, refusal: ConsoleRefusal) -> Response:
        return self.render(
            "refused.html", refusal.signed_in, title=refusal.title, page="refused",
            status_code=refusal.status_code, refusal_title=refusal.title,
            message=refusal.message,
        )

    async def names(self) -> dict[str, str]:
        """Display names of staff by username (for labels)."""
        return {account.username: account.display_name for account in await self.accounts.list()}

    # -- who sees what

    @staticmethod
    def queues_for(account: StaffAccount) -> list[HandoffQueue]:
        if account.supervises:
            return [HandoffQueue.AGENT, HandoffQueue.SUPERVISOR]
        return [HandoffQueue.AGENT]

    def visible(self, account: StaffAccount, case: HandoffCase) -> bool:
        return case.queue in self.queues_for(account)

    async def visible_case(self, who: SignedIn, case_id: str) -> HandoffCase:
        case = None
        if _CASE_ID.fullmatch(case_id):
            try:
                case = await self.desk.get(case_id)
            except HandoffNotFound:
                case = None
        if case is None or not self.visible(who.account, case):
            raise ConsoleRefusal(
                404, "没有找到会话", "没有找到这个会话，或它不在您可查看的队列中。", signed_in=who
            )
        return case

    @staticmethod
    def may_manage(account: StaffAccount, case: HandoffCase) -> bool:
        """Transfer, escalate or end a case: its handler, anyone while it waits,
        and supervisors always."""
        return (
            account.supervises
            or case.claimed_by is None
            or case.claimed_by == account.username
        )

    # -- sign-in

    def login_page(
        self,
        *,
        next_path: str,
        username: str = "",
        error: str | None = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        cookie, csrf = self.auth.sessions.issue_login_token()
        response = self.render(
            "login.html", None, title="登录", page="login", status_code=status_code,
            login_csrf=csrf, next_path=next_path, username=username, error=error,
        )
        for name, value in (headers or {}).items():
            response.headers[name] = value
        self.auth.sessions.set_login_cookie(response, cookie)
        return response

    async def show_login(self, request: Request) -> Response:
        next_path = safe_console_next(request.query_params.get("next"))
        try:
            await self.auth.signed_in(request)
        except (ConsoleSignInRequired, ConsoleRefusal):
            return self.login_page(next_path=next_path)
        return RedirectResponse(next_path, status_code=303)

    async def submit_login(self, request: Request) -> Response:
        form = await request.form()
        username = form_text(form, "username", limit=64)
        raw_password = form.get("password")
        password = raw_password if isinstance(raw_password, str) else ""
        next_path = safe_console_next(form_text(form, "next"))
        sessions = self.auth.sessions
        expected = sessions.login_token(request.cookies.get(sessions.login_cookie))
        given = form_text(form, CSRF_FIELD) or form_text(form, "csrf_token")
        if expected is None or not csrf_matches(expected, given):
            return self.login_page(
                next_path=next_path, username=username, status_code=403,
                error="登录页面已过期，请重新输入后登录。",
            )
        if not username or not password:
            return self.login_page(
                next_path=next_path, username=username, status_code=400,
                error="请输入用户名和密码。",
            )
        address = request.client.host if request.client else None
        account, error, status, retry_after = await self.auth.sign_in(username, password, address)
        if account is None:
            headers = {"Retry-After": str(int(retry_after))} if retry_after else None
            return self.login_page(
                next_path=next_path, username=username, status_code=status,
                error=error, headers=headers,
            )
        await self.desk.audit(account.username, "sign_in")
        response = RedirectResponse(next_path, status_code=303)
        self.auth.sessions.set_session_cookie(response, self.auth.sessions.issue(account))
        self.auth.sessions.clear_login_cookie(response)
        return response

    async def logout(self, request: Request) -> Response:
        response = RedirectResponse(LOGIN_PATH, status_code=303)
        try:
            who, _ = await self.auth.checked_form(request)
        except ConsoleSignInRequired:
            pass  # signed out already
        else:
            await self.desk.audit(who.account.username, "sign_out")
        self.auth.sessions.clear_session_cookie(response)
        return response

    # -- the queue

    async def queue_sections(self, who: SignedIn) -> list[dict[str, Any]]:
        account = who.account
        names = await self.names()
        now = self.now()
        sections = []
        for queue in self.queues_for(account):
            cases = await self.desk.queue(queues=[queue], include_active=True)
            rows = [
                case_view(
                    case, now=now, me=account.username, names=names,
                    amber=self.config.sla_amber_seconds, red=self.config.red,
                )
                for case in cases
            ]
            # Waiting first (oldest first), then those being handled.
            rows.sort(key=lambda r: (r.case.status is not HandoffStatus.WAITING,
                                     r.case.opened_at))
            sections.append({
                "queue": queue.value,
                "title": QUEUE_LABELS[queue],
                "rows": rows,
                "waiting": sum(r.case.status is HandoffStatus.WAITING for r in rows),
                "active": sum(r.case.status is HandoffStatus.ACTIVE for r in rows),
            })
        return sections

    async def queue_page(self, request: Request) -> Response:
        who = await self.auth.signed_in(request)
        notice = _NOTICES.get(request.query_params.get("done", ""), "")
        cursor = await self.head()  # before reading: a change meanwhile comes live
        return self.render(
            "queue.html", who, title="会话队列", page="queue",
            events_url="/console/events", cursor=cursor,
            sections=await self.queue_sections(who), notice=notice,
            sla_amber_words=_minutes_words(self.config.sla_amber_seconds),
            sla_red_words=_minutes_words(self.config.red),
        )

    async def queue_partial(self, request: Request) -> Response:
        who = await self.auth.signed_in(request)
        html = self.templates.env.get_template("console/_queues.html").render(
            sections=await self.queue_sections(who), csrf_token=who.csrf_token
        )
        return Response(html, media_type="text/html; charset=utf-8", headers=CONSOLE_HEADERS)

    async def head(self) -> int:
        """The newest history entry's id: where a page's live updates start.

        Read forward from the newest id this process has seen (ids only grow),
        so each call reads only what was added since the last one."""
        cursor = self._head
        while batch := await self.desk.changes_since(cursor, limit=1000):
            cursor = batch[-1].entry_id
        self._head = max(self._head, cursor)
        return cursor

    # -- one case

    async def case_page(self, request: Request, case_id: str) -> Response:
        who = await self.auth.signed_in(request)
        case = await self.visible_case(who, case_id)
        params = request.query_params
        notice = _NOTICES.get(params.get("done", ""), "")
        ticket = params.get("ticket", "")
        reply_text = ""
        if ticket and _TICKET_ID.fullmatch(ticket):
            notice = f"已创建工单 {ticket}。"
            reply_text = (f"您反映的问题已登记为工单，编号 {ticket}。我们会转交相关部门办理，"
                          "办理进度会在这里通知您。")
        elif ticket == "queued":
            notice = "工单已提交，编号生成后会显示在“居民的工单”中。"
        supplemented = params.get("supplemented", "")
        if supplemented and _TICKET_ID.fullmatch(supplemented):
            notice = f"已向工单 {supplemented} 补充材料，承办部门可以看到。"
            reply_text = (f"您补充的情况已提交到工单 {supplemented}，承办部门会一并办理，"
                          "办理进度会在这里通知您。")
        return await self.render_case(who, case, notice=notice, reply_text=reply_text)

    async def render_case(
        self,
        who: SignedIn,
        case: HandoffCase,
        *,
        status_code: int = 200,
        notice: str = "",
        error: str = "",
        reply_text: str = "",
        subscribe_text: str = "",
        ticket_form: dict[str, Any] | None = None,
        supplement_form: dict[str, Any] | None = None,
    ) -> Response:
        account = who.account
        names = await self.names()
        cursor = await self.head()  # before reading: a line added meanwhile comes live
        history = await self.desk.history(case.key, limit=200)
        entries = [entry_view(entry, names) for entry in history]
        view = case_view(
            case, now=self.now(), me=account.username, names=names,
            amber=self.config.sla_amber_seconds, red=self.config.red,
        )
        window = await self.desk.window(case.key)
        records = await self.tickets.mine(case.key, limit=10)
        is_open = case.status is not HandoffStatus.CLOSED
        mine = case.claimed_by == account.username
        manage = is_open and self.may_manage(account, case)
        can = {
            "claim": is_open and case.claimed_by is None,
            "reply": is_open and (mine or case.claimed_by is None),
            "transfer": manage,
            "escalate": manage and case.queue is HandoffQueue.AGENT,
            "hand_back": is_open and (mine or (account.supervises and manage)),
            "ticket": is_open and (mine or account.supervises),
        }
        return self.render(
            "case.html", who, title=f"会话 {case.case_id}", page="case",
            status_code=status_code,
            events_url=f"/console/events?case={quote(case.case_id)}", cursor=cursor,
            case=case, view=view, entries=entries, window=window,
            window_words=_window_words(case, window),
            can=can, transfer_options=await self.transfer_options(account, case),
            quick_replies=self.config.quick_replies,
            tickets=[ticket_view(r) for r in records],
            ticket_form=ticket_form or self.ticket_prefill(case, history),
            supplement_form=supplement_form or {"ticket_id": "", "text": "", "error": ""},
            supplement_ids={
                r.ticket_id: _new_submission_id(case, "sup") for r in records if r.ticket_id
            },
            max_supplement=MAX_SUPPLEMENT_CHARS,
            request_types=list(REQUEST_TYPES.items()),
            notice=notice, error=error, reply_text=reply_text, subscribe_text=subscribe_text,
            max_reply=MAX_REPLY_CHARS, max_description=MAX_DESCRIPTION_CHARS,
        )

    async def transfer_options(
        self, account: StaffAccount, case: HandoffCase
    ) -> list[tuple[str, str]]:
        options: list[tuple[str, str]] = []
        if case.queue is HandoffQueue.AGENT:
            options.append(("queue:supervisor", "值班长队列（由值班长接入）"))
        elif account.supervises:
            options.append(("queue:agent", "坐席队列（由坐席接入）"))
        if case.claimed_by is not None:
            options.append((f"queue:{case.queue.value}", f"放回{QUEUE_LABELS[case.queue]}"))
        for colleague in await self.accounts.list():
            if (
                not colleague.active
                or not colleague.uses_console
                or colleague.username in (account.username, case.claimed_by)
                or (case.queue is HandoffQueue.SUPERVISOR and not colleague.supervises)
            ):
                continue
            options.append((f"staff:{colleague.username}",
                            f"{colleague.display_name}（{colleague.role_label}）"))
        return options

    @staticmethod
    def ticket_prefill(case: HandoffCase, history: Sequence[HistoryEntry]) -> dict[str, Any]:
        """A ticket form filled from the conversation: type and category from
        what NLU read, the resident's words of this case, a location they sent."""
        resident = [e for e in history if e.author == "resident"]
        in_case = [e for e in resident if e.case_id == case.case_id] or resident[-5:]
        request_type = "seek_help"
        category = ""
        address = ""
        for entry in reversed(resident):
            if entry.intent in REQUEST_TYPES and request_type == "seek_help":
                request_type = entry.intent
            if entry.category and entry.category != "其他" and not category:
                category = entry.category
            if entry.kind == "location" and not address:
                address = entry.text
        words = [
            e.text for e in in_case
            if e.kind in ("text", "voice") and e.text and e.intent not in _NOT_THE_MATTER
        ]
        description = "\n".join(words) or case.summary
        return {
            "open": False,
            "error": "",
            "request_type": request_type,
            "category": category or "其他",
            "description": description[:MAX_DESCRIPTION_CHARS],
            "address": address[:MAX_ADDRESS_CHARS],
            "submission_id": _new_submission_id(case),
        }

    # -- actions

    def back_to(self, case: HandoffCase, done: str) -> Response:
        return RedirectResponse(
            f"/console/cases/{quote(case.case_id)}?{urlencode({'done': done})}", status_code=303
        )

    async def conflict(self, who: SignedIn, case_id: str, exc: HandoffError) -> Response:
        log.info("console action refused: %s", exc, extra={"case_id": case_id})
        case = await self.visible_case(who, case_id)
        if isinstance(exc, HandoffConflict):
            message = (
                "会话已结束，无法继续操作。" if case.status is HandoffStatus.CLOSED
                else f"会话已由 {case.claimed_by or '其他同事'} 处理，无法执行该操作。"
            )
        else:
            message = "操作没有完成，请刷新页面后重试。"
        return await self.render_case(who, case, status_code=409, error=message)

    async def claim(self, request: Request, case_id: str) -> Response:
        who, _ = await self.auth.checked_form(request)
        case = await self.visible_case(who, case_id)
        try:
            claimed = await self.desk.claim(case.case_id, who.account.username)
        except HandoffError as exc:
            return await self.conflict(who, case_id, exc)
        return self.back_to(claimed, "claimed")

    async def transfer(self, request: Request, case_id: str) -> Response:
        who, form = await self.auth.checked_form(request)
        case = await self.visible_case(who, case_id)
        account = who.account
        if not self.may_manage(account, case):
            return await self.render_case(
                who, case, status_code=403, error="只有处理人或值班长可以转交这个会话。"
            )
        target = form_text(form, "to", limit=80)
        if target not in {value for value, _ in await self.transfer_options(account, case)}:
            return await self.render_case(
                who, case, status_code=400, error="请选择要转交的同事或队列。"
            )
        kind, _, name = target.partition(":")
        try:
            if kind == "queue":
                moved = await self.desk.transfer(
                    case.case_id, account.username, to_queue=HandoffQueue(name)
                )
            else:
                # The case stays in its queue: a supervisor-queue case only ever goes
                # to supervisors (the options offer no one else).
                moved = await self.desk.transfer(
                    case.case_id, account.username, to_staff=name, to_queue=case.queue
                )
        except HandoffError as exc:
            return await self.conflict(who, case_id, exc)
        if not self.visible(account, moved) or moved.claimed_by != account.username:
            return RedirectResponse("/console?done=transferred", status_code=303)
        return self.back_to(moved, "transferred")

    async def escalate(self, request: Request, case_id: str) -> Response:
        who, _ = await self.auth.checked_form(request)
        case = await self.visible_case(who, case_id)
        if not self.may_manage(who.account, case) or case.queue is not HandoffQueue.AGENT:
            return await self.render_case(
                who, case, status_code=403, error="只有处理人可以把这个会话升级给值班长。"
            )
        try:
            moved = await self.desk.escalate_to_supervisor(case.case_id, who.account.username)
        except HandoffError as exc:
            return await self.conflict(who, case_id, exc)
        if not self.visible(who.account, moved):
            return RedirectResponse("/console?done=escalated", status_code=303)
        return self.back_to(moved, "escalated")

    async def reply(self, request: Request, case_id: str) -> Response:
        who, form = await self.auth.checked_form(request)
        case = await self.visible_case(who, case_id)
        text = form_text(form, "text", limit=MAX_REPLY_CHARS + 1)
        if not text or len(text) > MAX_REPLY_CHARS:
            return await self.render_case(
                who, case, status_code=400, reply_text=text[:MAX_REPLY_CHARS],
                error=f"请输入回复内容（不超过 {MAX_REPLY_CHARS} 字）。",
            )
        try:
            await self.desk.reply(case.case_id, who.account.username, text)
        except ReplyWindowClosed:
            return await self.render_case(
                who, case, status_code=409, subscribe_text=text,
                error="微信客服消息窗口已关闭，回复没有发出。可改发订阅消息。",
            )
        except HandoffError as exc:
            return await self.conflict(who, case_id, exc)
        return self.back_to(case, "replied")

    async def subscribe(self, request: Request, case_id: str) -> Response:
        who, form = await self.auth.checked_form(request)
        case = await self.visible_case(who, case_id)
        text = form_text(form, "text", limit=MAX_REPLY_CHARS + 1)
        if not text or len(text) > MAX_REPLY_CHARS:
            return await self.render_case(
                who, case, status_code=400, subscribe_text=text[:MAX_REPLY_CHARS],
                error=f"请输入订阅消息内容（不超过 {MAX_REPLY_CHARS} 字）。",
            )
        try:
            await self.desk.reply_by_subscribe(case.case_id, who.account.username, text)
        except HandoffError as exc:
            return await self.conflict(who, case_id, exc)
        return self.back_to(case, "subscribed")

    async def hand_back(self, request: Request, case_id: str) -> Response:
        who, form = await self.auth.checked_form(request)
        case = await self.visible_case(who, case_id)
        account = who.account
        if case.claimed_by != account.username and not (
            account.supervises and self.may_manage(account, case)
        ):
            return await self.render_case(
                who, case, status_code=403, error="只有处理人或值班长可以结束这个会话。"
            )
        note = form_text(form, "note", limit=MAX_NOTE_CHARS) or None
        try:
            await self.desk.hand_back(case.case_id, account.username, note=note)
        except HandoffError as exc:
            return await self.conflict(who, case_id, exc)
        return self.back_to(case, "handed_back")

    async def create_ticket(self, request: Request, case_id: str) -> Response:
        who, form = await self.auth.checked_form(request)
        case = await self.visible_case(who, case_id)
        account = who.account
        filled: dict[str, Any] = {
            "open": True,
            "error": "",
            "request_type": form_text(form, "request_type", limit=20),
            "category": form_text(form, "category", limit=MAX_CATEGORY_CHARS + 1),
            "description": form_text(form, "description", limit=MAX_DESCRIPTION_CHARS + 1),
            "address": form_text(form, "address", limit=MAX_ADDRESS_CHARS + 1),
            "submission_id": form_text(form, "submission_id", limit=100),
        }
        problem = _ticket_problem(filled)
        if problem is None and not (
            case.status is not HandoffStatus.CLOSED
            and (case.claimed_by == account.username or account.supervises)
        ):
            problem = "请先接入会话，再为居民创建工单。"
        if problem is not None:
            if not _SUBMISSION_ID.fullmatch(filled["submission_id"]):
                filled["submission_id"] = _new_submission_id(case)
            filled["error"] = problem
            return await self.render_case(who, case, status_code=400, ticket_form=filled)
        draft = TicketDraft(
            request_type=filled["request_type"],
            category=filled["category"] or "其他",
            description=filled["description"],
            address=filled["address"] or None,
        )
        result = await self.tickets.submit(
            case.key, draft, submission_id=filled["submission_id"]
        )
        number = result.ticket_id
        await self.desk.audit(
            account.username, "ticket", case_id=case.case_id,
            detail=(f"{number}：" if number else "待生成编号：") + draft.description[:200],
        )
        target = f"/console/cases/{quote(case.case_id)}?{urlencode({'ticket': number or 'queued'})}"
        return RedirectResponse(target, status_code=303)

    async def supplement(self, request: Request, case_id: str) -> Response:
        """Add the resident's further words to one of their open tickets
        (``Tickets.supplement``; the hidden submission id makes a double
        click add it once)."""
        who, form = await self.auth.checked_form(request)
        case = await self.visible_case(who, case_id)
        account = who.account
        ticket_id = form_text(form, "ticket_id", limit=41)
        filled: dict[str, Any] = {
            "ticket_id": ticket_id,
            "text": form_text(form, "text", limit=MAX_SUPPLEMENT_CHARS + 1),
            "submission_id": form_text(form, "submission_id", limit=100),
            "error": "",
        }

        async def refused(status_code: int, message: str) -> Response:
            if not _SUBMISSION_ID.fullmatch(filled["submission_id"]):
                filled["submission_id"] = _new_submission_id(case, "sup")
            filled["error"] = message
            filled["text"] = filled["text"][:MAX_SUPPLEMENT_CHARS]
            return await self.render_case(
                who, case, status_code=status_code, error=message, supplement_form=filled
            )

        if case.status is HandoffStatus.CLOSED:
            return await refused(409, "会话已结束，不能再从这里补充工单材料。")
        if case.claimed_by != account.username and not account.supervises:
            return await refused(403, "请先接入会话，再为居民补充工单材料。")
        if not _TICKET_ID.fullmatch(ticket_id):
            return await refused(400, "请选择要补充材料的工单。")
        text = filled["text"]
        if not text or len(text) > MAX_SUPPLEMENT_CHARS:
            return await refused(
                400, f"请填写补充内容（不超过 {MAX_SUPPLEMENT_CHARS} 字）。"
            )
        if not _SUBMISSION_ID.fullmatch(filled["submission_id"]):
            return await refused(400, "表单已过期，请重新填写后提交。")
        not_theirs = f"工单 {ticket_id} 不是这位居民的工单（或编号有误），不能补充材料。"
        # The resident's own ticket (None for anyone else's), its status read afresh.
        try:
            ticket = await self.tickets.lookup(case.key, ticket_id)
        except BackendError:
            return await refused(503, "工单系统暂时连接不上，补充没有提交，请稍后再试。")
        if ticket is None:
            return await refused(404, not_theirs)
        if not in_progress(ticket.status):
            return await refused(
                409, f"工单 {ticket_id} 当前状态为“{ticket.status.value}”，已不能补充材料；"
                "如有新情况，请为居民新建工单。"
            )
        try:
            await self.tickets.supplement(
                case.key, ticket_id, text=SUPPLEMENT_PREFIX + text, photos=(),
                submission_id=filled["submission_id"],
            )
        except TicketNotFound:
            return await refused(404, not_theirs)
        except UnsupportedByBackend:
            return await refused(
                409, "当前工单系统不支持在线补充材料，请通过工单系统或 12345 热线为居民补充。"
            )
        except BackendRejected as exc:
            reason = str(exc).strip()
            why = f"：{reason}" if re.search(r"[\u4e00-\u9fff]", reason) else "。"
            return await refused(409, f"工单系统没有接受这次补充{why}")
        except BackendUnavailable:
            return await refused(503, "工单系统暂时连接不上，补充没有提交，请稍后再试。")
        if self._first_time(filled["submission_id"]):
            await self.desk.audit(
                account.username, "supplement", case_id=case.case_id,
                detail=f"{ticket_id}：{text[:200]}",
            )
        target = (f"/console/cases/{quote(case.case_id)}?"
                  f"{urlencode({'supplemented': ticket_id})}")
        return RedirectResponse(target, status_code=303)

    def _first_time(self, submission_id: str) -> bool:
        """False when this process has seen the submission before (a double
        click: the ticket system adds it once, the audit log says it once)."""
        if submission_id in self._submitted:
            return False
        self._submitted[submission_id] = None
        while len(self._submitted) > 1000:
            del self._submitted[next(iter(self._submitted))]
        return True

    # -- the audit log

    async def audit_page(self, request: Request) -> Response:
        who = await self.auth.signed_in(request)
        if not who.account.supervises:
            raise ConsoleRefusal(403, "无权查看", "审计日志仅值班长、调度员和管理员可以查看。",
                                 signed_in=who)
        case_filter = request.query_params.get("case", "").strip()
        if case_filter and not _CASE_ID.fullmatch(case_filter):
            case_filter = ""
        limit = 300
        entries = await self.desk.audit_log(case_id=case_filter or None, limit=limit)
        names = await self.names()
        rows = [
            {
                "entry": entry,
                "staff_label": staff_name(entry.staff, names) if entry.staff != "idle"
                else "系统（超时）",
                "action_label": _ACTION_LABELS.get(entry.action, entry.action),
            }
            for entry in entries
        ]
        return self.render(
            "audit.html", who, title="审计日志", page="audit", rows=rows,
            case_filter=case_filter, limit=limit,
        )

    # -- live updates

    async def ping(self, request: Request) -> Response:
        await self.auth.signed_in(request)
        return Response(status_code=204, headers={"Cache-Control": "no-store"})

    async def events(self, request: Request) -> Response:
        who = await self.auth.signed_in(request)
        account = who.account
        params = request.query_params
        case: HandoffCase | None = None
        if params.get("case"):
            case = await self.visible_case(who, params["case"])
        given = clean_cursor(request.headers.get("last-event-id")) or clean_cursor(
            params.get("cursor")
        )
        start = int(given) if given is not None else await self.head()
        # The feed re-reads a little before the cursor (lines that commit out of
        # id order) and the staff replies the page shows as on their way (?watch=).
        feed = LiveFeed(
            self.desk,
            names=await self.names(),
            refresh_names=self.names,
            visible=lambda changed: self.visible(account, changed),
            clock=self.now,
            key=case.key if case is not None else None,
            case_id=case.case_id if case is not None else None,
            watch=parse_watch(params.get("watch")),
        )
        body = event_stream(
            feed.fetch, str(start), signal=self.signal,
            poll_seconds=self.config.poll_seconds,
            heartbeat_seconds=self.config.heartbeat_seconds,
            lifetime_seconds=self.config.stream_seconds,
        )
        return StreamingResponse(body, media_type="text/event-stream", headers={
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # nginx: pass events on at once
            "X-Content-Type-Options": "nosniff",
        })

    async def static(self, name: str) -> Response:
        if name not in self.assets:
            return Response("not found", status_code=404, media_type="text/plain")
        body, media_type = self.assets[name]
        return Response(body, media_type=media_type, headers={
            "Cache-Control": "public, max-age=86400",
            "X-Content-Type-Options": "nosniff",
        })

    async def home_redirect(self) -> Response:
        return RedirectResponse(CONSOLE_AREA, status_code=303)

    # -- the router

    def route_class(self) -> type[APIRoute]:
        console = self

        class ConsoleRoute(APIRoute):
            """Turns sign-in and refusal signals into pages (401/JSON for the script's calls)."""

            def get_route_handler(self) -> Callable[[Request], Any]:
                handler = super().get_route_handler()

                async def guarded(request: Request) -> Response:
                    api = request.url.path in _API_PATHS
                    try:
                        response: Response = await handler(request)
                        return response
                    except ConsoleSignInRequired as required:
                        if api:
                            return JSONResponse({"detail": "请先登录。"}, status_code=401)
                        redirect = RedirectResponse(required.location, status_code=303)
                        if required.stale_cookie:
                            console.auth.sessions.clear_session_cookie(redirect)
                        return redirect
                    except ConsoleRefusal as refusal:
                        if api:
                            return JSONResponse({"detail": refusal.message},
                                                status_code=refusal.status_code)
                        return console.refusal_page(refusal)

                return guarded

        return ConsoleRoute


def _window_words(case: HandoffCase, window: ReplyWindowInfo) -> str:
    if case.key.channel is not Channel.WECHAT:
        return "回复将通过居民所在渠道发送。"
    if not window.open:
        return "微信客服消息窗口已关闭。"
    parts = ["微信客服消息窗口开放中"]
    if window.closes_at is not None:
        parts.append(f"至 {local_time(window.closes_at)}")
    if window.remaining is not None:
        parts.append(f"，还可发送 {window.remaining} 条")
    return "".join(parts) + "。"


def _new_submission_id(case: HandoffCase, what: str = "") -> str:
    """A form's idempotency id: posting the same form twice files or adds once."""
    middle = f"{what}-" if what else ""
    return f"console-{case.case_id}-{middle}{secrets.token_urlsafe(9)}"


def _ticket_problem(filled: Mapping[str, Any]) -> str | None:
    if filled["request_type"] not in REQUEST_TYPES:
        return "请选择诉求类型。"
    if not filled["description"]:
        return "请填写诉求内容。"
    if len(filled["description"]) > MAX_DESCRIPTION_CHARS:
        return f"诉求内容不能超过 {MAX_DESCRIPTION_CHARS} 字。"
    if len(filled["category"]) > MAX_CATEGORY_CHARS:
        return f"分类不能超过 {MAX_CATEGORY_CHARS} 字。"
    if len(filled["address"]) > MAX_ADDRESS_CHARS:
        return f"地址不能超过 {MAX_ADDRESS_CHARS} 字。"
    if not _SUBMISSION_ID.fullmatch(filled["submission_id"]):
        return "表单已过期，请重新填写后提交。"
    return None


_ACTION_LABELS = {
    "sign_in": "登录工作台",
    "sign_out": "退出工作台",
    "claim": "接入会话",
    "transfer": "转交会话",
    "escalate": "升级给值班长",
    "reply": "回复居民",
    "reply_by_subscribe": "订阅消息回复",
    "hand_back": "结束并交还智能助手",
    "ticket": "创建工单",
    "supplement": "补充工单材料",
}


def build_console(
    desk: HandoffDesk,
    tickets: Tickets,
    auth: ConsoleAuth,
    *,
    config: ConsoleConfig | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> APIRouter:
    """The console's router (absolute paths under ``/console``)."""
    console = _Console(desk, tickets, auth, auth.accounts, config or ConsoleConfig(), clock)
    router = APIRouter(route_class=console.route_class())

    def add(path: str, endpoint: Callable[..., Any], method: str = "GET") -> None:
        router.add_api_route(path, endpoint, methods=[method], include_in_schema=False)

    add(CONSOLE_AREA, console.queue_page)
    add(CONSOLE_AREA + "/", console.home_redirect)
    add(LOGIN_PATH, console.show_login)
    add(LOGIN_PATH, console.submit_login, "POST")
    add(LOGOUT_PATH, console.logout, "POST")
    add("/console/queue/partial", console.queue_partial)
    add("/console/ping", console.ping)
    add("/console/events", console.events)
    add("/console/audit", console.audit_page)
    add("/console/static/{name}", console.static)
    add("/console/cases/{case_id}", console.case_page)
    for action, endpoint in (
        ("claim", console.claim),
        ("transfer", console.transfer),
        ("escalate", console.escalate),
        ("reply", console.reply),
        ("subscribe", console.subscribe),
        ("ticket", console.create_ticket),
        ("supplement", console.supplement),
        ("hand-back", console.hand_back),
    ):
        add(f"/console/cases/{{case_id}}/{action}", endpoint, "POST")
    return router

