"""Who speaks in a torchrun job: rank 0 reports, the other ranks train silently.

Read from torchrun's environment without importing torch, so even an early error (a bad
option, a missing file) is reported once and not by every rank.
"""

from __future__ import annotations

import os
import time

# How long another rank that hit the same usage error waits for torchrun to stop it. Its exit
# would make torchrun stop rank 0 too, often before rank 0 has printed the error line.
MAIN_RANK_GRACE_S = 30.0


def in_torchrun() -> bool:
    return os.environ.get("WORLD_SIZE", "1").strip() not in ("", "0", "1")


def is_main_rank() -> bool:
    """False in torchrun's ranks other than 0."""
    return os.environ.get("RANK", "0") == "0"


def rank_prefix() -> str:
    """'rank 3: ' in torchrun's other ranks, so the error line of a failing rank says which."""
    return "" if is_main_rank() else f"rank {os.environ['RANK']}: "


def leave_the_report_to_rank_0(grace_s: float = MAIN_RANK_GRACE_S) -> None:
    """Wait, in a rank other than 0, for torchrun to stop this rank once rank 0 has failed.

    Every rank fails alike on a bad option or file, and rank 0 says so. Returning at once would
    race it: torchrun stops all ranks when the first one exits. Returning after the grace means
    rank 0 did not fail, and the caller reports the error itself.
    """
    if in_torchrun() and not is_main_rank():
        time.sleep(grace_s)
