"""The load, benchmark and soak commands: each runs as ``python -m scripts.NAME`` from the
repository's root, and shares its wire, statistics and process helpers through ``benchkit``."""
