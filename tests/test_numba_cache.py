"""Compiled kernels are cached in the user's cache folder, whichever module imports numba
first (a read-only or zipped package folder cannot hold them)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROBE = (
    "import shopscale.recommend.model, numba.core.config as c, os\n"
    "print(os.environ['NUMBA_CACHE_DIR']); print(c.CACHE_DIR)\n"
)


def test_cache_dir_is_set_before_any_kernel_module(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"} | {"HOME": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    want = str(tmp_path / ".cache" / "shopscale-numba")
    assert run.stdout.split() == [want, want]
