"""Units of the model: one grammar and one table for the unit strings of states and parameters.

Grammar. A unit string is a quotient of products, as the declarations write them:
``"1/day"``, ``"cells/uL/day"``, ``"(ug/mL)/(mg/kg)"``, ``"1e6 cells/kg"``, ``"EDSS points/lesion"``.
``/`` divides (left to right), parentheses group, a space multiplies, and a factor is a
positive number or a word of :data:`WORDS` (a word may be written in the plural, with an ``s``).
A word the table lacks is refused, naming the string and the word: a module that measures
something new adds its word to :data:`WORDS`.

Meaning. A word is a product of SBML unit parts ``(kind, exponent, scale, multiplier)``, a
quantity of ``(multiplier * 10**scale * kind)**exponent``, as in an SBML ``<unit>``:

- SI words map onto SBML base units: ``day`` is 86400 second, ``year`` 365.25 days (as
  remit's ``YEAR``), ``uL`` is litre with scale -6, ``mg`` gram with scale -3; a ``cell`` is an
  ``item`` (SBML's unit for counted entities);
- plain ratios (``relative``, ``fraction of normal``, ``log-reduction``, ``index``, ``1``) are
  dimensionless; ``%`` and its variants are dimensionless with scale -2;
- clinical scales and counts (``EDSS point``, ``lesion``, ``relapse``, ``SES-CD point``,
  ``IU`` ...) are dimensions of their own: remit's check keeps them apart (an EDSS point is
  not a lesion). SBML Level 3 has no user-defined base units, so they are written to SBML as
  ``dimensionless``; libSBML's unit check then sees the SI dimensions, and the names survive
  as the names of the unit definitions.

Units are compared by :meth:`Unit.same`: the same dimensions and the same size, so that
``mL`` and ``1e-3 L`` agree and ``1/day`` and ``1/year`` do not (libSBML compares dimensions only).

Literal numbers in rate laws carry no unit in sympy. :func:`unit_of`, :func:`settle`,
:func:`common` and :func:`factor_wants` infer the unit each literal must have from its
context, so that a threshold such as the 200 in ``cd4/200`` becomes 200 cells/uL: a literal
added to or compared with a quantity takes that quantity's unit, and a numeric coefficient
takes the unit that makes its product fit where the product stands (a coefficient of -1 is
a sign and stays dimensionless); any other literal is dimensionless.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

import sympy as sp

SBML_KINDS = ("second", "gram", "litre", "metre", "mole", "item", "dimensionless")
DAYS_PER_YEAR = 365.25


class UnitError(ValueError):
    """A unit string that the grammar or the table does not cover, or units that do not match."""


@dataclass(frozen=True)
class Unit:
    """A product of unit parts ``(kind, exponent, scale, multiplier)``.

    ``kind`` is an SBML base unit kind (:data:`SBML_KINDS`) or the name of a clinical scale
    or count (written to SBML as ``dimensionless``). Parts with the same kind, scale and
    multiplier are merged and the parts sorted, so equal products have equal parts.
    """

    parts: tuple[tuple[str, Fraction, int, float], ...] = ()

    @staticmethod
    def of(parts) -> Unit:
        """The unit of an iterable of ``(kind, exponent, scale, multiplier)`` parts."""
        merged: dict[tuple[str, int, float], Fraction] = {}
        for kind, exponent, scale, multiplier in parts:
            key = (kind, int(scale), float(multiplier))
            merged[key] = merged.get(key, Fraction(0)) + Fraction(exponent)
        return Unit(tuple(sorted((k, e, s, m) for (k, s, m), e in merged.items()
                                 if e != 0 and (k, s, m) != ("dimensionless", 0, 1.0))))

    def __mul__(self, other: Unit) -> Unit:
        return Unit.of(self.parts + other.parts)

    def __truediv__(self, other: Unit) -> Unit:
        return self * other ** -1

    def __pow__(self, n) -> Unit:
        n = _fraction(n)
        return Unit.of((k, e * n, s, m) for k, e, s, m in self.parts)

    def sbml_parts(self) -> list[tuple[str, float, int, float]]:
        """The parts as SBML ``<unit>`` elements (named kinds become ``dimensionless``)."""
        return [(k if k in SBML_KINDS else "dimensionless", float(e), s, m) for k, e, s, m in self.parts]

    @property
    def dims(self) -> dict[str, Fraction]:
        """Exponent of each dimension: the SI base units and the clinical scales and counts."""
        out: dict[str, Fraction] = {}
        for k, e, _, _ in self.parts:
            if k != "dimensionless":
                out[k] = out.get(k, Fraction(0)) + e
        return {k: e for k, e in out.items() if e != 0}

    @property
    def factor(self) -> float:
        """Size of this unit in the base units of its dimensions (e.g. 86400 for day)."""
        return math.prod((m * 10.0 ** s) ** float(e) for _, e, s, m in self.parts)

    def same(self, other: Unit) -> bool:
        """The same dimensions and the same size (``mL`` is ``1e-3 L``; an EDSS point is not a lesion)."""
        return self.dims == other.dims and math.isclose(self.factor, other.factor, rel_tol=1e-9)

    def __str__(self) -> str:
        num = [_part_text(k, e, s, m) for k, e, s, m in self.parts if e > 0]
        den = [_part_text(k, -e, s, m) for k, e, s, m in self.parts if e < 0]
        top = " ".join(num) or "1"
        return top + "".join(f"/{d}" for d in den)


def _fraction(x) -> Fraction:
    if isinstance(x, sp.Rational):
        return Fraction(int(x.p), int(x.q))
    if isinstance(x, (sp.Float, float)):
        return Fraction(repr(float(x)))
    return Fraction(x)


DIMENSIONLESS = Unit()
_PERCENT = (("dimensionless", 1, -2, 1.0),)

# word -> parts; one place for every unit word the model uses
WORDS: dict[str, tuple[tuple[str, int, int, float], ...]] = {
    # time
    "h": (("second", 1, 0, 3600.0),), "day": (("second", 1, 0, 86400.0),),
    "year": (("second", 1, 0, DAYS_PER_YEAR * 86400.0),),
    # mass, volume, length, amount, counted entities
    "kg": (("gram", 1, 3, 1.0),), "g": (("gram", 1, 0, 1.0),), "mg": (("gram", 1, -3, 1.0),), "ug": (("gram", 1, -6, 1.0),),
    "L": (("litre", 1, 0, 1.0),), "mL": (("litre", 1, -3, 1.0),), "uL": (("litre", 1, -6, 1.0),),
    "m": (("metre", 1, 0, 1.0),), "mm": (("metre", 1, -3, 1.0),), "m2": (("metre", 2, 0, 1.0),),
    "mol": (("mole", 1, 0, 1.0),), "nmol": (("mole", 1, -9, 1.0),),
    "cell": (("item", 1, 0, 1.0),),
    # ratios
    "relative": (), "fraction of normal": (), "log-reduction": (), "index": (),
    "%": _PERCENT, "% point": _PERCENT, "% predicted": _PERCENT, "FVC % predicted": _PERCENT,
    # clinical scales and counts: named kinds (dimensionless in SBML)
    **{w: ((w, 1, 0, 1.0),) for w in (
        "lesion", "event", "relapse", "flare", "IU", "disease unit", "drev-unit", "synovitis unit", "insulitis unit",
        "EDSS point", "mRSS point", "SES-CD point", "SES-CD narrowing point", "CDAI point", "HAQ point", "Sharp unit")},
}
_LONGEST = max(len(w.split()) for w in WORDS)
_TOKEN = re.compile(r"\(|\)|/|[^\s()/]+")
_NAMES = {parts[0][:1] + parts[0][2:]: w for w, parts in WORDS.items() if len(parts) == 1 and parts[0][1] == 1
          and parts[0][0] != "dimensionless"}  # (kind, scale, multiplier) -> word, for printing


def _part_text(kind: str, e: Fraction, scale: int, mult: float) -> str:
    name = _NAMES.get((kind, scale, mult))
    if name is None:
        size = (f"{mult:g}" if mult != 1.0 else "1") + (f"e{scale}" if scale else "")
        name = size if kind == "dimensionless" else kind if size == "1" else f"({size} {kind})"
    return name if e == 1 else f"{name}^{e}" if e.denominator == 1 else f"{name}^({e})"


def parse(text: str) -> Unit:
    """The :class:`Unit` of a unit string; :class:`UnitError` names the string and what is not understood."""
    tokens = _TOKEN.findall(text)
    pos = 0

    def fail(why: str):
        raise UnitError(f"unit {text!r}: {why} (grammar: products of numbers and known words, '/' divides, "
                        f"parentheses group; words: see remit.model.units.WORDS)")

    def quotient() -> Unit:
        nonlocal pos
        u = product()
        while pos < len(tokens) and tokens[pos] == "/":
            pos += 1
            u = u / product()
        return u

    def product() -> Unit:
        nonlocal pos
        u, n = DIMENSIONLESS, 0
        while pos < len(tokens) and tokens[pos] not in ("/", ")"):
            if tokens[pos] == "(":
                pos += 1
                u = u * quotient()
                if pos >= len(tokens) or tokens[pos] != ")":
                    fail("unbalanced parentheses")
                pos += 1
            else:
                u = u * factor()
            n += 1
        if n == 0:
            fail("empty factor")
        return u

    def factor() -> Unit:
        nonlocal pos
        for k in range(min(_LONGEST, len(tokens) - pos), 0, -1):
            words = tokens[pos:pos + k]
            if any(t in ("(", ")", "/") for t in words):
                continue
            phrase = " ".join(words)
            for w in (phrase, phrase[:-1] if phrase.endswith("s") else None):
                if w in WORDS:
                    pos += k
                    return Unit.of(WORDS[w])
        tok = tokens[pos]
        try:
            x = float(tok)
        except ValueError:
            fail(f"unknown word {tok!r}")
        if not (math.isfinite(x) and x > 0):
            fail(f"factor {tok!r} is not a positive number")
        pos += 1
        scale = round(math.log10(x))
        return Unit.of([("dimensionless", 1, scale, 1.0)] if x == 10.0 ** scale else [("dimensionless", 1, 0, x)])

    if not tokens:
        fail("empty")
    u = quotient()
    if pos != len(tokens):
        fail(f"unexpected {tokens[pos]!r}")
    return u


# ----------------------------------------------------------------------------- inference over sympy
def _is_sign(e: sp.Expr) -> bool:
    return e.is_Number and abs(e) == 1


def unit_of(e: sp.Expr, units: Mapping[str, Unit]) -> Unit | None:
    """The unit of ``e``, or None where it depends on the context (it has a literal whose unit
    the context fixes). ``units`` maps symbol names to units. Booleans have no unit (None)."""
    if isinstance(e, sp.Symbol):
        return units[e.name]
    if e.is_Number:
        return None
    if isinstance(e, (sp.Add, sp.Max, sp.Min)):
        return next((u for u in (unit_of(a, units) for a in e.args) if u is not None), None)
    if isinstance(e, sp.Mul):
        us = [DIMENSIONLESS if _is_sign(a) else unit_of(a, units) for a in e.args]
        return None if any(u is None for u in us) else math.prod(us, start=DIMENSIONLESS)
    if isinstance(e, sp.Pow):
        b, x = e.args
        if not x.is_Number:
            return DIMENSIONLESS
        u = unit_of(b, units)
        return None if u is None else u ** x
    if isinstance(e, (sp.exp, sp.log)):
        return DIMENSIONLESS
    if isinstance(e, sp.Abs):
        return unit_of(e.args[0], units)
    if isinstance(e, sp.Piecewise):
        return next((u for u in (unit_of(v, units) for v, _ in e.args) if u is not None), None)
    return None


def settle(e: sp.Expr, units: Mapping[str, Unit]) -> Unit:
    """The unit ``e`` takes where the context leaves it free (its own literals dimensionless
    unless a sum or comparison inside fixes them)."""
    u = unit_of(e, units)
    if u is not None:
        return u
    if e.is_Number:
        return DIMENSIONLESS
    if isinstance(e, (sp.Add, sp.Max, sp.Min)):
        return DIMENSIONLESS  # every term is free: literals stay dimensionless, coefficients adapt
    if isinstance(e, sp.Mul):
        return math.prod((settle(a, units) for a in e.args), start=DIMENSIONLESS)
    if isinstance(e, sp.Pow):
        return settle(e.args[0], units) ** e.args[1]
    if isinstance(e, sp.Abs):
        return settle(e.args[0], units)
    return DIMENSIONLESS


def common(args, units: Mapping[str, Unit], want: Unit | None, where: sp.Expr) -> Unit:
    """The one unit of the terms of a sum (or the sides of a comparison, the branches of a
    piecewise): the unit of the terms that have one, else ``want``, else dimensionless.
    Raises :class:`UnitError` if the terms that have a unit disagree with each other or with ``want``."""
    fixed = [u for u in (unit_of(a, units) for a in args) if u is not None]
    target = fixed[0] if fixed else want if want is not None else DIMENSIONLESS
    for u in fixed[1:] + ([want] if want is not None else []):
        if not u.same(target):
            raise UnitError(f"units do not match in {where}: {u} and {target}")
    return target


def factor_wants(args, units: Mapping[str, Unit], want: Unit | None, where: sp.Expr) -> list[Unit | None]:
    """The unit each factor of a product must have so that the product has unit ``want``
    (None: the factor settles): the numeric coefficient, if there is one, takes what the other
    factors leave. Raises :class:`UnitError` if the product cannot have unit ``want``."""
    us = [DIMENSIONLESS if _is_sign(a) else unit_of(a, units) for a in args]
    coefficient = next((i for i, a in enumerate(args) if a.is_Number and us[i] is None), None)
    if want is None:
        return us
    rest = DIMENSIONLESS
    for i, a in enumerate(args):
        if i != coefficient:
            rest = rest * (us[i] if us[i] is not None else settle(a, units))
    if coefficient is None:
        if not rest.same(want):
            raise UnitError(f"units do not match in {where}: {rest} and {want}")
        return us
    out: list[Unit | None] = list(us)
    out[coefficient] = want / rest
    return out
