"""Who speaks in a torchrun job: rank 0 reports, the other ranks train silently.

Read from torchrun's environment without importing torch, so even an early error (a bad
option, a missing file) is reported once and not by every rank.
"""

from __future__ import annotations

import os


def in_torchrun() -> bool:
    return os.environ.get("WORLD_SIZE", "1").strip() not in ("", "0", "1")


def is_main_rank() -> bool:
    """False in torchrun's ranks other than 0."""
    return os.environ.get("RANK", "0") == "0"


def rank_prefix() -> str:
    """'rank 3: ' in torchrun's other ranks, so the error line of a failing rank says which."""
    return "" if is_main_rank() else f"rank {os.environ['RANK']}: "
