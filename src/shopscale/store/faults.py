"""Named fault points: ``SHOPSCALE_FAULT=<point>`` makes the process SIGKILL itself there.

The fault-injection tests (tests/store/test_faults.py) kill a real ``shopscale recommend`` at
each point and check that the output folder holds exactly the old or exactly the new result.
Unset (the normal case), a fault point costs one environment lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "SHOPSCALE_FAULT"


def fault_point(name: str) -> None:
    """Kill this process with SIGKILL (no clean-up of any kind) if ``name`` is the chosen point."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
