"""The chat app for hypercorn's own command: ``hypercorn --worker-class trio
minidiscord.asgi:app``.

The settings come from the ``MINIDISCORD_*`` environment, logging follows
``MINIDISCORD_LOG_LEVEL`` and ``MINIDISCORD_LOG_FORMAT``, and hypercorn's worker serves the
app as the ``minidiscord`` command does (:mod:`.hypercorn_worker`: hypercorn's adjustments,
the graceful drain on SIGTERM). A bad setting or an unusable database is one line on stderr
and exit status 2, not a traceback.
"""

import sys

from . import logs
from .app import ChatApp, create_app
from .chat.store.factory import StoreError
from .config import Settings, SettingsError
from .hypercorn_worker import serve_like_minidiscord
from .runtime import tune_garbage_collector


def _load() -> ChatApp:
    try:
        settings = Settings.from_env()
        logs.configure(settings.log_level, settings.log_format)
        return create_app(settings)
    except (SettingsError, StoreError) as exc:
        print(f"minidiscord: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


app = _load()
serve_like_minidiscord(app, app.settings.shutdown_timeout)
tune_garbage_collector()
