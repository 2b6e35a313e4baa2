"""``shopscale doctor``: versions, cores and memory, the first thing to paste in a bug report."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess

import typer
from rich.table import Table

from shopscale.cli._common import out

PACKAGES = (
    "shopscale",
    "duckdb",
    "pyarrow",
    "numpy",
    "scipy",
    "numba",
    "pyspark",
    "pyvrp",
    "implicit",
    "psycopg",
    "fastapi",
    "uvicorn",
)


def _version(package: str) -> str:
    """Installed version of a package, or 'not installed'."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _java() -> str:
    """First line of ``java -version``, or why there is none."""
    java = shutil.which("java")
    if java is None:
        return "not found (the Spark engine needs Java 17)"
    proc = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    lines = (proc.stderr or proc.stdout).strip().splitlines()
    return lines[0] if lines else "unknown"


def _memory_gib() -> str:
    """Total physical memory in GiB (Linux and macOS)."""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        return f"{pages / 2**30:.1f} GiB"
    except (ValueError, OSError, AttributeError):
        return "unknown"


def doctor() -> None:
    """Print Python, Java, library versions, cores and memory."""
    table = Table(title="shopscale doctor", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("python", f"{platform.python_version()} ({platform.python_implementation()})")
    table.add_row("platform", platform.platform())
    table.add_row("cores", str(os.cpu_count()))
    table.add_row("memory", _memory_gib())
    table.add_row("java", _java())
    for package in PACKAGES:
        table.add_row(package, _version(package))
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add ``doctor`` to the shopscale command."""
    app.command(name="doctor")(doctor)
