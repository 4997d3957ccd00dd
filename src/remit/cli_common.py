"""What every ``remit`` command shares: the one-line error, the options that recur across commands
(each concept has one name, spelled once here; docs/cli.md), option names that were renamed (still
accepted, with a one-line notice), and listings: rich tables on a terminal, plain tab-separated
text when standard output is a pipe or a file, JSON with ``--json``.

Light on purpose (typer only): ``remit --help`` imports this module.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

import typer
from typer.core import TyperCommand


def fail(message: str, code: int = 2) -> None:
    """Print ``remit: error: message`` (one line) on standard error and exit with ``code``."""
    typer.echo(f"remit: error: {message}", err=True)
    raise typer.Exit(code)


def slug(name: str) -> str:
    """``name`` as one path component (a trial name -> its default output folder); never "." or ".."."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")
    return s if s.strip(".") else "trial"


def check_disease(name: str, option: Optional[str] = "--disease") -> str:
    """``name`` if remit simulates that disease, else exit 2 naming ``option`` (if any) and the known diseases."""
    from remit.diseases import DISEASES

    if name not in DISEASES:
        fail(f"{option + ': ' if option else ''}unknown disease {name!r} (known: {', '.join(DISEASES)})")
    return name


# --------------------------------------------------------------------------
# options shared by several commands: one name and one meaning each
# --------------------------------------------------------------------------


def patients_per_arm_option(default: Optional[int], help: str, low: Optional[int] = 1,
                            high: Optional[int] = 1_000_000) -> Any:
    """``--patients-per-arm``: virtual patients per arm (``trial.patients_per_arm`` of a scenario)."""
    return typer.Option(default, "--patients-per-arm", min=low, max=high, help=help)


def out_option(default: Any, help: str) -> Any:
    """``--out``: the folder a command writes to."""
    return typer.Option(default, "--out", help=help)


def seed_option(default: Optional[int], help: str, low: Optional[int] = 0, high: Optional[int] = None) -> Any:
    """``--seed``: the seed of what the command draws at random (each command's help says what)."""
    return typer.Option(default, "--seed", min=low, max=high, help=help)


def chunk_size_option() -> Any:
    """``--chunk-size``: patients integrated together; results do not depend on it."""
    return typer.Option(1000, "--chunk-size", min=1, max=1_000_000,
                        help="Patients per integration chunk (results do not depend on it)")


def workers_option(default: int = 1, high: int = 1024,
                   help: str = "Dask LocalCluster worker processes (1: this process; results do not depend on it)") -> Any:
    """``--workers``: processes that simulate in parallel; results do not depend on it."""
    return typer.Option(default, "--workers", min=1, max=high, help=help)


def quiet_option() -> Any:
    """``--quiet``: no progress output (results and errors are still printed)."""
    return typer.Option(False, "--quiet", help="No progress messages")


def resume_option(help: str) -> Any:
    """``--resume``: continue what ``--out`` holds (finished work is kept)."""
    return typer.Option(False, "--resume", help=help)


def force_option(help: str) -> Any:
    """``--force``: replace what ``--out`` holds (never done without it)."""
    return typer.Option(False, "--force", help=help)


def disease_option(default: Any, help: str = "Disease (remit diseases lists them)") -> Any:
    """``--disease``: a disease id of ``remit diseases``."""
    return typer.Option(default, "--disease", help=help)


def _at_least_two_draws(value: int) -> int:
    if value == 1:
        fail("--posterior-draws 1: an interval needs at least 2 draws (0 turns the intervals off)")
    return value


def posterior_draws_option(default: int = 20) -> Any:
    """``--posterior-draws``: parameter draws behind the 90% predictive intervals (remit.predictive); 0 turns
    them off, 1 is refused."""
    return typer.Option(default, "--posterior-draws", min=0, max=1000, callback=_at_least_two_draws,
                        help="Parameter draws (posterior, else priors) behind the 90% predictive interval of every "
                             "endpoint, pi_low/pi_high (0: none; about doubles the run time)")


def trial_size_option(help: str = "Also the 90% predictive interval of a real trial with this many patients per arm "
                                  "(trial_pi_low/trial_pi_high: parameter uncertainty plus its finite-sample noise)") -> Any:
    """``--trial-size``: patients per arm of the real trial a predictive interval is for."""
    return typer.Option(None, "--trial-size", min=2, max=1_000_000, help=help)


def json_option(schema: str) -> Any:
    """``--json``: machine-readable output in the named, versioned structure (docs/cli.md)."""
    return typer.Option(False, "--json", help=f"Print JSON (structure {schema}, docs/cli.md) instead of tables")


# --------------------------------------------------------------------------
# renamed options
# --------------------------------------------------------------------------

# command -> {old option name: its name now}. The old names are still accepted; each use prints
# a one-line notice on standard error, and the command's --help lists them.
RENAMED: dict[str, dict[str, str]] = {
    "power": {"--per-arm": "--patients-per-arm", "--year": "--timepoint"},
    "sweep": {"--patients": "--patients-per-arm"},
    "sensitivity": {"--patients": "--patients-per-arm"},
}


class RenamedOptions(TyperCommand):
    """A command that still accepts the old names of its renamed options (:data:`RENAMED`)."""

    def __init__(self, name, **kwargs):
        super().__init__(name, **kwargs)
        renamed = RENAMED.get(name or "", {})
        if renamed:
            note = "Renamed options (the old name still works, with a notice): " + ", ".join(
                f"{old} is now {new}" for old, new in renamed.items())
            self.epilog = f"{self.epilog}\n\n{note}" if self.epilog else note

    def parse_args(self, ctx, args):
        renamed = RENAMED.get(self.name or "", {})
        out: list[str] = []
        for i, arg in enumerate(args):
            if arg == "--":  # everything after it is an argument, not an option
                out += args[i:]
                break
            old, eq, value = arg.partition("=")
            if old in renamed:
                typer.echo(f"remit {self.name}: warning: {old} is deprecated, use {renamed[old]}", err=True)
                arg = renamed[old] + eq + value
            out.append(arg)
        return super().parse_args(ctx, out)


# --------------------------------------------------------------------------
# listings: rich on a terminal, plain tab-separated text otherwise, or JSON
# --------------------------------------------------------------------------

Cell = Union[str, Callable[[dict], Any]]


@dataclass
class Listing:
    """One table of a listing command: its records (dicts, as they appear in the JSON output) and
    the columns shown for them, each a header and a record key or a function of the record."""

    title: str
    columns: list[tuple[str, Cell]]
    records: list[dict]

    def rows(self) -> list[list[str]]:
        return [[_text(cell(r) if callable(cell) else r[cell]) for _, cell in self.columns] for r in self.records]


def _text(value: Any) -> str:
    """A cell on one line: lists joined by commas, no value as '-', whitespace runs (tabs, newlines) as one space."""
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        value = ", ".join(map(str, value))
    return " ".join(str(value).split())


def on_terminal() -> bool:
    """Whether standard output is a terminal (rich tables) rather than a pipe or a file (plain text)."""
    return sys.stdout.isatty()


def show(listings: list[Listing], doc: dict | None = None, as_json: bool = False, hints: tuple[str, ...] = ()) -> None:
    """Print ``doc`` as JSON (``as_json``); else the listings: rich tables (and ``hints``) on a terminal,
    otherwise per table a ``# title`` line, a header line and one line per record, tab-separated and never
    wrapped, with a blank line between tables."""
    if as_json:
        typer.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    if not on_terminal():
        blocks = ["\n".join([f"# {_text(t.title)}", "\t".join(h for h, _ in t.columns),
                             *("\t".join(row) for row in t.rows())]) for t in listings]
        typer.echo("\n\n".join(blocks))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    for t in listings:
        table = Table(title=t.title, title_justify="left")
        for k, (header, _) in enumerate(t.columns):  # the first column, an identifier, is never broken
            table.add_column(header, overflow="fold", no_wrap=k == 0)
        for row in t.rows():
            table.add_row(*map(Text, row))  # Text: a cell is never read as rich markup
        console.print(table)
    for h in hints:
        console.print(Text(h))
