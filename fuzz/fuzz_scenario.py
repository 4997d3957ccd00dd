"""Fuzz target: scenario file bytes -> remit.scenario.load_scenario (atheris / libFuzzer).

Any exception other than :class:`remit.errors.ScenarioError` is a finding, and so is a
ScenarioError whose text is not one line naming the file, or an input that takes longer
than libFuzzer's ``-timeout``. Run with ``make fuzz`` (see fuzz/README.md)::

    .venv/bin/python fuzz/fuzz_scenario.py CORPUS_DIR -max_total_time=120 -dict=fuzz/scenario.dict
"""

from __future__ import annotations

import os
import sys
import tempfile

import atheris

with atheris.instrument_imports(include=["remit", "tomllib", "tomli_w"]):
    import tomllib  # noqa: F401  (instrumented: the parser is half of the attack surface)

    from remit.errors import ScenarioError
    from remit.scenario import load_scenario

_DIR = tempfile.mkdtemp(prefix="remit-fuzz-")
PATH = os.path.join(_DIR, "scenario.toml")
INPUTS = 0


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris' name)
    global INPUTS
    INPUTS += 1
    with open(PATH, "wb") as fh:
        fh.write(data)
    try:
        load_scenario(PATH)
    except ScenarioError as err:
        text = str(err)
        if "\n" in text or "\r" in text or not text.startswith(f"{PATH}: "):
            raise AssertionError(f"malformed error message: {text[:500]!r}") from None


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    try:
        atheris.Fuzz()
    finally:  # not reached when libFuzzer exits by itself; its own stats line reports the count
        print(f"remit fuzz: {INPUTS} inputs", file=sys.stderr)


if __name__ == "__main__":
    main()
