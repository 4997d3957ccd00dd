"""What every ``remit`` command shares: the one-line error and the default output folder name.

Light on purpose (typer only): ``remit --help`` imports this module.
"""

from __future__ import annotations

import re

import typer


def fail(message: str, code: int = 2) -> None:
    """Print ``remit: error: message`` (one line) on standard error and exit with ``code``."""
    typer.echo(f"remit: error: {message}", err=True)
    raise typer.Exit(code)


def slug(name: str) -> str:
    """``name`` as one path component (a trial name -> its default output folder); never "." or ".."."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")
    return s if s.strip(".") else "trial"
