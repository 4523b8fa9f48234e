"""The claim checker every chapter's claims cell calls.

The compared output (what nbval checks) carries claim names and PASS / FAIL / NOT REPRODUCED /
SKIPPED only: measured floats differ in their last digits across CPUs. The measured values reach
the reader through :meth:`Claims.details` and the runner through the output's metadata.
A failed claim raises :class:`ClaimFailure`, so papermill, nbval and the site build all fail.
"""
from __future__ import annotations

import math
import operator
from dataclasses import asdict, dataclass
from typing import Any, List, Optional

OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}
METADATA_KEY = "theorylab_claims"

PASS, FAIL, NOT_REPRODUCED, SKIPPED = "PASS", "FAIL", "NOT REPRODUCED", "SKIPPED"


class ClaimFailure(AssertionError):
    """Raised by :meth:`Claims.report` when a checked claim does not hold."""


@dataclass
class Claim:
    name: str
    value: Optional[float]
    op: Optional[str]
    threshold: Optional[float]
    passed: Optional[bool]
    status: str
    note: str = ""

    def measured(self) -> str:
        if self.value is None:
            return "-"
        return f"{self.value:.4g}"

    def rule(self) -> str:
        if self.op is None:
            return "-"
        return f"{self.op} {self.threshold:.4g}"


def _as_float(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"claim {name!r}: measured value must be a number, got {value!r}") from exc
    return v


class Claims:
    """Collects a chapter's claims, then :meth:`report` prints the table and raises on failure.

    >>> c = Claims()
    >>> c.check("trained loss within 5% of GD", 0.012, "<=", 0.05)
    >>> c.report()  # doctest: +SKIP
    """

    def __init__(self) -> None:
        self.items: List[Claim] = []

    def _add(self, claim: Claim) -> None:
        if any(c.name == claim.name for c in self.items):
            raise ValueError(f"claim {claim.name!r} is declared twice")
        self.items.append(claim)

    def check(self, name: str, value: Any, op: str, threshold: float, note: str = "") -> bool:
        """A claim the chapter reproduces: ``value op threshold`` must hold (NaN never holds)."""
        if op not in OPS:
            raise ValueError(f"op must be one of {', '.join(OPS)}; got {op!r}")
        v = _as_float(name, value)
        ok = (not math.isnan(v)) and bool(OPS[op](v, float(threshold)))
        self._add(Claim(name, v, op, float(threshold), ok, PASS if ok else FAIL, note))
        return ok

    def not_reproduced(self, name: str, value: Any, op: str, threshold: float, why: str) -> None:
        """A claim the chapter declares NOT reproduced at its scale, with the reason.

        It is still measured and recorded (``passed`` says whether it happened to hold this run),
        but it never raises and is always shown as NOT REPRODUCED.
        """
        if not why:
            raise ValueError("a claim declared not reproduced needs a reason (why=...)")
        v = _as_float(name, value)
        ok = (not math.isnan(v)) and bool(OPS[op](v, float(threshold)))
        self._add(Claim(name, v, op, float(threshold), ok, NOT_REPRODUCED, why))

    def skip(self, name: str, why: str) -> None:
        """A claim that is only checked at another scale (e.g. ``full``)."""
        self._add(Claim(name, None, None, None, None, SKIPPED, why))

    # -- reporting -----------------------------------------------------------------------
    def records(self) -> List[dict]:
        return [asdict(c) for c in self.items]

    def failed(self) -> List[Claim]:
        return [c for c in self.items if c.status == FAIL]

    def summary_text(self) -> str:
        width = max([len(c.name) for c in self.items] + [5])
        lines = [f"{'claim'.ljust(width)}  result"]
        lines += [f"{c.name.ljust(width)}  {c.status}" for c in self.items]
        counts = {s: sum(c.status == s for c in self.items) for s in (PASS, FAIL, NOT_REPRODUCED, SKIPPED)}
        lines.append(
            f"claims: {counts[PASS]} pass, {counts[FAIL]} fail, "
            f"{counts[NOT_REPRODUCED]} not reproduced, {counts[SKIPPED]} skipped at this scale"
        )
        return "\n".join(lines)

    def details_text(self) -> str:
        rows = [("claim", "measured", "rule", "result", "note")]
        rows += [(c.name, c.measured(), c.rule(), c.status, c.note) for c in self.items]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        out = []
        for r in rows:
            out.append("  ".join(r[i].ljust(widths[i]) for i in range(4)) + ("  " + r[4] if r[4] else ""))
        return "\n".join(out)

    def report(self) -> None:
        """Print the PASS/FAIL table (names only), attach the measured values as output metadata,
        and raise :class:`ClaimFailure` if any checked claim failed."""
        if not self.items:
            raise ValueError("no claims were declared")
        text = self.summary_text()
        try:
            from IPython import get_ipython
            from IPython.display import display

            shell = get_ipython()
        except ImportError:  # pragma: no cover
            shell = None
        if shell is not None:
            display({"text/plain": text}, raw=True, metadata={METADATA_KEY: self.records()})
        else:
            print(text)
        bad = self.failed()
        if bad:
            lines = [f"{c.name}: measured {c.measured()}, needed {c.rule()}" for c in bad]
            raise ClaimFailure(f"{len(bad)} claim(s) failed:\n  " + "\n  ".join(lines))

    def details(self) -> None:
        """Show every claim with its measured value and rule (not compared by nbval)."""
        print(self.details_text())
