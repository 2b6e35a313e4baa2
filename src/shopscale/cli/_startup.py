"""Start-up cost of the ``shopscale`` command.

pyarrow imports pandas the first time an array is built, only to ask whether the values are
pandas objects (``pyarrow.lib._pandas_api``, and the C++ converter of Python sequences);
pandas then takes ~0.35 s of the start of ``update``, a third of the imports before it reads a
row, and ``update`` is the command a shop runs every few minutes. shopscale never hands
pyarrow a pandas object nor asks it for one, so ``update`` runs with pandas not importable:
pyarrow then takes the "no pandas" path. Only for commands that run on the local engine
alone: PySpark's Arrow paths need pandas. ``SHOPSCALE_ARROW_PANDAS=1`` leaves pandas
importable.
"""

from __future__ import annotations

import os
import sys

KEEP = "SHOPSCALE_ARROW_PANDAS"
"""Environment variable: ``1`` leaves pandas importable (pyarrow's pandas integration on)."""
COMMANDS = frozenset({"update"})
"""Sub-commands that run without pandas."""


def without_pandas(command: str | None) -> bool:
    """For ``command``s of ``COMMANDS``, make ``import pandas`` fail for the rest of the process;
    whether that was done (not for other commands, not when pandas is imported already, nor
    with ``SHOPSCALE_ARROW_PANDAS=1``)."""
    if command not in COMMANDS or os.environ.get(KEEP, "") == "1" or "pandas" in sys.modules:
        return False
    if _NoPandas not in sys.meta_path:
        sys.meta_path.insert(0, _NoPandas)
    return True


class _NoPandas:
    """An import finder under which ``import pandas`` fails (a finder that only returned None
    would let the next finder find it)."""

    @staticmethod
    def find_spec(name: str, path: object = None, target: object = None) -> None:
        """Refuse pandas and its sub-modules; anything else is left to the other finders."""
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"{name} is not used by this command", name=name)
        return None
