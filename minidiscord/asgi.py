"""The ASGI entry point: ``hypercorn --worker-class trio minidiscord.asgi:app``."""

from .app import create_app
from .config import Settings
from .runtime import tune_garbage_collector

app = create_app(Settings.from_env())
tune_garbage_collector()
