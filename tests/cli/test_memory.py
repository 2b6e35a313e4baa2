"""The command turns transparent huge pages off for its process, unless asked not to."""

from __future__ import annotations

import os
import subprocess
import sys

# a fresh interpreter: what ``main`` does first, then what the kernel says of the process
PROBE = (
    "from shopscale.cli._memory import no_huge_pages\n"
    "done = no_huge_pages()\n"
    "status = open('/proc/self/status').read()\n"
    "print(done, status.split('THP_enabled:')[1].split()[0])\n"
)


def _probe(env: dict[str, str]) -> str:
    run = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    return run.stdout.strip()


def test_huge_pages_off_by_default_and_kept_on_request() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SHOPSCALE_HUGE_PAGES"}
    assert _probe(env) == "True 0"
    assert _probe(env | {"SHOPSCALE_HUGE_PAGES": "1"}) == "False 1"
