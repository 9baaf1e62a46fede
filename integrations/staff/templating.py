"""Server-rendered HTML for the staff pages: Jinja2 with autoescape, local assets only.

Templates live in a ``templates`` directory inside a package: this one's
(``staff/base.html``, the sign-in page, the error page) plus the packages a
page set names, so every staff page extends the same layout. Times are
shown in China Standard Time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import ChoiceLoader, Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

__all__ = ["CHINA", "PAGE_HEADERS", "StaffTemplates", "local_time"]

CHINA = ZoneInfo("Asia/Shanghai")

# Staff pages run no script and load nothing from elsewhere; photos sent by
# residents may be on the channel's media host, hence images from http(s).
PAGE_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' https: http: data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC datetime as Beijing time; empty for None."""
    if value is None:
        return ""
    return value.astimezone(CHINA).strftime(fmt)


class StaffTemplates:
    """The Jinja2 environment of one set of staff pages."""

    def __init__(self, *packages: str) -> None:
        loaders = [PackageLoader(package, "templates") for package in packages]
        loaders.append(PackageLoader("integrations.staff", "templates"))
        self.env = Environment(
            loader=ChoiceLoader(loaders),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["local_time"] = local_time

    def render(
        self,
        name: str,
        context: Mapping[str, Any],
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        html = self.env.get_template(name).render(**context)
        merged = {**PAGE_HEADERS, **(headers or {})}
        return HTMLResponse(html, status_code=status_code, headers=merged)
