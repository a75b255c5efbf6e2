"""Counts the commits recorded in an SQLite WAL file, read independently of the store."""

import struct
from pathlib import Path

WAL_HEADER = 32
FRAME_HEADER = 24


def wal_commits(db_path: Path) -> int:
    """Commit frames in the WAL that belong to its current generation (matching salts)."""
    wal = Path(f"{db_path}-wal").read_bytes()
    if len(wal) < WAL_HEADER:
        return 0
    page_size = struct.unpack(">I", wal[8:12])[0]
    salts = wal[16:24]
    commits = 0
    offset = WAL_HEADER
    while offset + FRAME_HEADER + page_size <= len(wal):
        db_size_after_commit = struct.unpack(">I", wal[offset + 4 : offset + 8])[0]
        if wal[offset + 8 : offset + 16] != salts:
            break  # a frame left over from before the last checkpoint reset
        if db_size_after_commit:
            commits += 1
        offset += FRAME_HEADER + page_size
    return commits
