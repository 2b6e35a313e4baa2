"""The small error taxonomy: the CLI turns each into one line and an exit code."""

from __future__ import annotations

from pathlib import Path


class ShopscaleError(Exception):
    """Base of every error shopscale raises on purpose (exit code 2 in the CLI)."""


class InputError(ShopscaleError):
    """Bad input: names the file, the line (when known) and the reason."""

    def __init__(self, path: str | Path | None, reason: str, line: int | None = None) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        self.reason = reason
        where = self.path or "<input>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {reason}")


class ConfigError(ShopscaleError):
    """A bad setting: names the file (or flag) and the key."""

    def __init__(self, source: str, key: str, reason: str) -> None:
        self.source = source
        self.key = key
        self.reason = reason
        super().__init__(f"{source}: [{key}] {reason}")


class EngineError(ShopscaleError):
    """A stage failed inside an engine; keeps the stage and engine names."""

    def __init__(self, stage: str, engine: str, cause: BaseException | str) -> None:
        self.stage = stage
        self.engine = engine
        self.cause = cause
        super().__init__(f"stage {stage!r} failed on engine {engine!r}: {cause}")
