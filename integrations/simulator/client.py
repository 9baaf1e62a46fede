"""A Python driver of the simulator for end-to-end tests.

Uses the very :class:`Simulator` the page uses: the same XML, signatures,
HTTP posting and fake-API inbox::

    sim = SimulatorClient(Simulator(config, http))
    assert "1. 我要反映" in (await sim.send_event("zhang", "subscribe") or "")
    reply = await sim.send_text("zhang", "小区门口路灯坏了")
    push = await sim.wait_for_push("zhang", timeout=5)

``user`` is a resident's key ("zhang"), name ("张阿姨") or openid; an
unknown key makes a new resident.
"""

from __future__ import annotations

from .core import SendResult, Simulator
from .state import Push

__all__ = ["SimulatorClient", "SimulatorError"]


class SimulatorError(AssertionError):
    """The app did not answer as WeChat requires (HTTP error, timeout, bad reply)."""

    def __init__(self, result: SendResult) -> None:
        super().__init__(f"{result.status}: {result.error or ''}".strip())
        self.result = result


class SimulatorClient:
    """Drive residents and read what the app pushed to them.

    With ``strict`` (the default) an action the app failed to answer raises
    :class:`SimulatorError`; otherwise inspect :attr:`last`.
    """

    def __init__(self, sim: Simulator, *, strict: bool = True) -> None:
        self.sim = sim
        self.strict = strict
        self.last: SendResult | None = None
        self._start = sim.last_seq()
        self._cursors: dict[str, int] = {}

    def openid(self, user: str) -> str:
        return self.sim.resident(user).openid

    def _done(self, result: SendResult) -> str | None:
        self.last = result
        if self.strict and not result.ok:
            raise SimulatorError(result)
        return result.reply.text if result.reply is not None else None

    # -- actions: each returns the passive reply's text, or None --------------------

    async def send_text(
        self, user: str, text: str, *, bizmsgmenuid: str | None = None
    ) -> str | None:
        return self._done(await self.sim.send_text(user, text, bizmsgmenuid=bizmsgmenuid))

    async def send_event(self, user: str, event: str, key: str | None = None) -> str | None:
        return self._done(await self.sim.send_event(user, event, key))

    async def subscribe(self, user: str) -> str | None:
        return await self.send_event(user, "subscribe")

    async def unsubscribe(self, user: str) -> str | None:
        return await self.send_event(user, "unsubscribe")

    async def click(self, user: str, key: str) -> str | None:
        return await self.send_event(user, "CLICK", key)

    async def send_location(
        self,
        user: str,
        latitude: float,
        longitude: float,
        *,
        label: str = "",
        scale: int = 16,
    ) -> str | None:
        return self._done(
            await self.sim.send_location(user, latitude, longitude, label=label, scale=scale)
        )

    async def send_image(
        self,
        user: str,
        data: bytes | None = None,
        *,
        content_type: str = "image/png",
        filename: str = "photo.png",
    ) -> str | None:
        return self._done(
            await self.sim.send_image(user, data, content_type=content_type, filename=filename)
        )

    async def send_voice(
        self,
        user: str,
        data: bytes | None = None,
        *,
        recognition: str | None = None,
        audio_format: str = "amr",
    ) -> str | None:
        return self._done(
            await self.sim.send_voice(
                user, data, recognition=recognition, audio_format=audio_format
            )
        )

    # -- pushes ---------------------------------------------------------------------

    def pushes(self, user: str) -> list[Push]:
        """Every push to ``user`` still in the (capped) inbox, oldest first."""
        return self.sim.pushes(user)

    async def wait_for_push(self, user: str, timeout: float = 5.0) -> Push:  # noqa: ASYNC109
        """The next push to ``user`` this client has not returned yet.

        Pushes that arrived before this client was created are skipped.
        Raises ``TimeoutError`` when none comes within ``timeout`` seconds.
        """
        openid = self.openid(user)
        after = self._cursors.get(openid, self._start)
        push = await self.sim.wait_for_push(openid, after=after, timeout=timeout)
        self._cursors[openid] = push.seq
        return push
