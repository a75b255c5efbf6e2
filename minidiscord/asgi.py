"""The ASGI entry point: ``hypercorn --worker-class trio minidiscord.asgi:app``."""

from .app import create_app
from .config import Settings

app = create_app(Settings.from_env())
