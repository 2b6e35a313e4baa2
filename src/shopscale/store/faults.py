"""Named fault points: ``SHOPSCALE_FAULT=<point>`` makes the process SIGKILL itself there.

The fault-injection tests (tests/store/test_faults.py) kill a real ``shopscale recommend`` at
each point and check that the output folder holds exactly the old or exactly the new result.
``SHOPSCALE_FAULT_SIGNAL=STOP`` stops the process there instead (the interruption tests send
Ctrl-C to a run known to be mid-job, then let it continue). Unset, the normal case, a fault
point costs one environment lookup.

Points: ``after:<stage>`` (read, encode, map, reduce, rank), ``write:<file name>`` and
``load:<table>`` while an output is half written, ``publish:before-switch``,
``publish:after-switch`` and ``prune``.
"""

from __future__ import annotations

import os
import signal

ENV = "SHOPSCALE_FAULT"
SIGNAL_ENV = "SHOPSCALE_FAULT_SIGNAL"


def fault_point(name: str) -> None:
    """Signal this process (SIGKILL: no clean-up of any kind) if ``name`` is the chosen point."""
    if os.environ.get(ENV) == name:
        sig = signal.SIGSTOP if os.environ.get(SIGNAL_ENV) == "STOP" else signal.SIGKILL
        os.kill(os.getpid(), sig)
