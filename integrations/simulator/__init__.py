"""A local simulator of WeChat, for chatting with the bot without a WeChat account.

It plays both sides WeChat plays, on loopback:

* the WeChat *server*: a resident's action on the page (or from
  :class:`SimulatorClient` in a test) becomes the signed (and in safe mode
  encrypted) XML WeChat would POST to the app's ``/wechat``; the passive
  reply is read back;
* the WeChat *API*: a fake of the endpoints the app calls, under
  ``/simulator/wechat-api`` (point ``MINHU_WECHAT_API_BASE`` there), with
  token rotation, the customer-service window rules and a per-resident
  inbox of pushes.

Wiring::

    sim = Simulator(SimulatorConfig(token=..., app_id=..., app_secret=...,
                                    account_id=..., webhook_url=...), httpx.AsyncClient())
    app.include_router(build_simulator_router(sim))

Development only; everything lives in memory.
"""

from __future__ import annotations

from .client import SimulatorClient, SimulatorError
from .config import SimulatorConfig
from .core import UNAVAILABLE, Reply, SendResult, Simulator, numbered_options
from .fake_api import FakeWeChatAPI
from .router import build_simulator_router
from .state import Push

__all__ = [
    "UNAVAILABLE",
    "FakeWeChatAPI",
    "Push",
    "Reply",
    "SendResult",
    "Simulator",
    "SimulatorClient",
    "SimulatorConfig",
    "SimulatorError",
    "build_simulator_router",
    "numbered_options",
]
