"""The baseline: a WeRoBot echo bot as a WSGI app, for a production WSGI server.

``@robot.text`` returns the message's content, which WeRoBot sends back as a
passive reply (encrypted in safe mode). It stores nothing: WeRoBot's SQLite
session storage is switched off unless ``BENCH_WEROBOT_SESSION=sqlite``, in
which case WeRoBot's own default (``SQLiteStorage`` in the working directory)
is used. Configuration comes from the environment so that ``gunicorn
bench.werobot_echo:app`` needs no arguments::

    BENCH_WEROBOT_TOKEN, BENCH_WEROBOT_APP_ID, BENCH_WEROBOT_AES_KEY (optional)
"""

from __future__ import annotations

import logging
import os

from werobot import WeRoBot

_session = os.environ.get("BENCH_WEROBOT_SESSION", "off")

robot = WeRoBot(
    token=os.environ.get("BENCH_WEROBOT_TOKEN", "minhu-bench-token"),
    app_id=os.environ.get("BENCH_WEROBOT_APP_ID", "wxbench000000000"),
    encoding_aes_key=os.environ.get("BENCH_WEROBOT_AES_KEY") or None,
    # None means WeRoBot's default, a SQLiteStorage; False switches sessions off.
    SESSION_STORAGE=None if _session == "sqlite" else False,
)
robot.logger.setLevel(logging.WARNING)


@robot.text
def echo(message):  # type: ignore[no-untyped-def]
    return message.content


app = robot.wsgi
