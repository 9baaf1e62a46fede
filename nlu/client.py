"""The Rasa client: one ``/model/parse`` call per message, with a fallback.

Rasa can be slow, restarting or gone. The bot must still answer, so:

- every call has a short timeout and at most ``retries`` quick retries;
- when Rasa fails, the deterministic keyword rules answer instead, and the
  failure is logged and counted (``minhu_nlu_fallbacks_total``);
- after a failure Rasa is left alone for ``cooldown`` seconds (so a dead
  server does not add a timeout to every message), then tried again: the
  client recovers by itself when Rasa comes back.

Text is normalised (Traditional → Simplified, full-width → half-width,
emoji, whitespace) before it is sent; the caller keeps the original.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from bot.errors import UnderstandingError
from bot.metrics import NLU_FALLBACKS, NLU_REQUESTS, child
from bot.types import Entity, Intent
from nlu.keywords import OTHER, KeywordUnderstanding, extract_entities
from nlu.normalize import normalize_text

__all__ = ["RasaHealth", "RasaUnderstanding", "intent_from_parse"]

log = logging.getLogger("minhu.nlu")


def intent_from_parse(data: dict[str, Any]) -> Intent:
    """Our :class:`Intent` from a ``/model/parse`` response."""
    try:
        intent = data["intent"]
        name = str(intent["name"])
        confidence = float(intent.get("confidence") or 0.0)
    except (KeyError, TypeError, ValueError) as exc:
        raise UnderstandingError("parse response without an intent") from exc
    category = data.get("category") or {}
    alternatives = tuple(
        (str(item["name"]), float(item.get("confidence") or 0.0))
        for item in data.get("intent_ranking") or []
        if isinstance(item, dict) and item.get("name") and item.get("name") != name
    )
    entities = tuple(
        Entity(
            entity=str(item["entity"]),
            value=str(item.get("value", "")),
            start=item.get("start"),
            end=item.get("end"),
        )
        for item in data.get("entities") or []
        if isinstance(item, dict) and item.get("entity")
    )
    return Intent(
        name=name,
        confidence=confidence,
        category=str(category.get("name") or OTHER),
        category_confidence=float(category.get("confidence") or 0.0),
        entities=entities,
        source="rasa",
        alternatives=alternatives[:4],
    )


class RasaUnderstanding:
    """Implements :class:`bot.ports.Understanding` over a Rasa server."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        timeout: float = 1.5,
        retries: int = 1,
        cooldown: float = 5.0,
        fallback: KeywordUnderstanding | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._url = base_url.rstrip("/") + "/model/parse"
        self._timeout = timeout
        self._retries = retries
        self._cooldown = cooldown
        self._fallback = fallback or KeywordUnderstanding()
        self._monotonic = monotonic
        self._resting_until = 0.0
        self._healthy = True

    @property
    def healthy(self) -> bool:
        """False while the client is answering from the fallback."""
        return self._healthy

    async def parse(self, text: str) -> Intent:
        normalised = normalize_text(text)
        if self._monotonic() >= self._resting_until:
            try:
                intent = await self._ask_rasa(normalised)
            except UnderstandingError as exc:
                self._went_down(exc)
            else:
                self._came_back()
                child(NLU_REQUESTS, "rasa").inc()
                return intent
        else:
            child(NLU_FALLBACKS, "resting").inc()
        child(NLU_REQUESTS, "keywords").inc()
        return await self._fallback.parse(normalised)

    async def _ask_rasa(self, text: str) -> Intent:
        last: Exception | None = None
        for attempt in range(self._retries + 1):
            try:
                response = await self._http.post(
                    self._url, json={"text": text}, timeout=self._timeout
                )
            except httpx.TimeoutException as exc:
                # A slow server will not be faster on a retry within the same turn.
                raise UnderstandingError("rasa timed out") from exc
            except httpx.TransportError as exc:
                last = exc
                if attempt < self._retries:
                    await asyncio.sleep(0.05)
                continue
            if response.status_code >= 500 and attempt < self._retries:
                last = UnderstandingError(f"rasa answered {response.status_code}")
                continue
            if response.status_code != 200:
                raise UnderstandingError(f"rasa answered {response.status_code}")
            try:
                data = response.json()
            except ValueError as exc:
                raise UnderstandingError("rasa answered with invalid JSON") from exc
            intent = intent_from_parse(data)
            return _with_pattern_entities(intent, text)
        raise UnderstandingError(f"rasa unreachable: {type(last).__name__}") from last

    def _went_down(self, exc: UnderstandingError) -> None:
        self._resting_until = self._monotonic() + self._cooldown
        reason = str(exc).split(":")[0]
        child(NLU_FALLBACKS, reason).inc()
        if self._healthy:
            log.warning(
                "rasa failed (%s); answering with the keyword fallback for %.0f s",
                exc, self._cooldown,
            )
        self._healthy = False

    def _came_back(self) -> None:
        if not self._healthy:
            log.warning("rasa answers again; keyword fallback off")
        self._healthy = True


def _with_pattern_entities(intent: Intent, text: str) -> Intent:
    """Add phone and ticket numbers the model missed (regexes are exact)."""
    have = {(e.entity, e.value) for e in intent.entities}
    extra = tuple(e for e in extract_entities(text) if (e.entity, e.value) not in have)
    if not extra:
        return intent
    return Intent(
        name=intent.name,
        confidence=intent.confidence,
        category=intent.category,
        category_confidence=intent.category_confidence,
        entities=intent.entities + extra,
        source=intent.source,
        alternatives=intent.alternatives,
    )


class RasaHealth:
    """Readiness of the Rasa server (optional: the fallback covers for it)."""

    name = "rasa"

    def __init__(self, http: httpx.AsyncClient, *, base_url: str) -> None:
        self._http = http
        self._url = base_url.rstrip("/") + "/status"

    async def check(self) -> None:
        response = await self._http.get(self._url, timeout=2.0)
        if response.status_code != 200:
            raise UnderstandingError(f"rasa /status answered {response.status_code}")
        if not response.json().get("model_file"):
            raise UnderstandingError("rasa has no model loaded")
