"""``python -m minidiscord``: the same as the ``minidiscord`` command."""

import sys

from .cli import main

sys.exit(main())
