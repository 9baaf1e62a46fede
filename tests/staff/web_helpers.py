"""Browser-like helpers for the staff page tests."""

from __future__ import annotations

import re

import httpx

__all__ = ["csrf_in", "sign_in"]

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_in(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


async def sign_in(
    client: httpx.AsyncClient, username: str, password: str, *, next_path: str | None = None
) -> httpx.Response:
    """Open the sign-in page and submit it, as a browser would."""
    page = await client.get("/staff/login", params={"next": next_path} if next_path else None)
    assert page.status_code == 200
    form = {"username": username, "password": password, "csrf_token": csrf_in(page.text)}
    if next_path is not None:
        form["next"] = next_path
    return await client.post("/staff/login", data=form)
