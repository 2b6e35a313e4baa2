"""Process memory settings of the ``shopscale`` command.

Transparent huge pages are turned off for the process (Linux ``prctl(PR_SET_THP_DISABLE)``,
inherited by its children): the jobs allocate and free many arrays of tens of MB, and with
huge pages each fresh one is faulted in 2 MB at a time, zeroed whole and, where the kernel's
``defrag`` setting asks, compacted first. On a 2-core machine with THP ``always`` a fold of
1M events into a 10M model spent 2-4 s of its 5-7 s in the kernel that way and varied by a
third from run to run; without huge pages, 1.5 s and 4.6-4.9 s (benchmarks/README.md).
``SHOPSCALE_HUGE_PAGES=1`` keeps the system's setting.
"""

from __future__ import annotations

import ctypes
import os
import sys

PR_SET_THP_DISABLE = 41
"""``prctl`` option (linux/prctl.h, Linux 3.15 and newer)."""

KEEP = "SHOPSCALE_HUGE_PAGES"
"""Environment variable: ``1`` leaves transparent huge pages as the system has them."""


def no_huge_pages() -> bool:
    """Turn transparent huge pages off for this process and its children; whether it was
    done (not on other systems, nor when ``SHOPSCALE_HUGE_PAGES=1``, nor on a kernel that
    refuses)."""
    if not sys.platform.startswith("linux") or os.environ.get(KEEP, "") == "1":
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):  # no C library symbol: leave the system's setting
        return False
