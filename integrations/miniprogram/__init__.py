"""WeChat mini-program channel: login, the REST API under ``/mp/v1``, pushes.

The same bot, tickets and progress pushes as the official account, reached
from a mini-program: chat turns go through the same ingest pipeline and
handlers; forms file through the same ticket desk; status changes go out as
subscribe messages (``subscribeMessage.send``) where the user consented,
and always into the user's in-app inbox.

Wiring (see ``bot.wiring``)::

    channel = MiniProgramChannel(config, http=..., db=..., tokens=..., ...)
    container.senders[Channel.MINIPROGRAM] = channel.sender
    app.mount("/mp/v1", build_miniprogram_app(channel))

The modules are imported where used, so that registering the tables
(``integrations.storage.all_models``) does not pull in the web layer.
"""
