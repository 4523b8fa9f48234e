"""The claim checker every chapter's claims cell calls.

A chapter declares its **headline claims** (1-3: the paper's central statement as a contrast) and its
**supporting claims** (mechanism signatures). Each headline carries the paper's own number where the paper
gives one, and a **negative control**: the same statistic measured on a model that implements the strongest
rival explanation. The control must *fail* the headline's rule; if it passes, the statistic cannot tell the
claim from its rival and :meth:`Claims.report` raises :class:`ClaimDesignError` (for a headline declared not
reproduced, whose claim is not made, the control is reported but cannot raise). Identities and sanity
checks are ``assert``s or unit tests, never claims.

The chapter's **verdict** follows from its headlines at the scale it ran: ``reproduced`` (every headline
holds), ``partly`` (some do), ``not reproduced`` (none does).

The compared output (what nbval checks) carries the verdict, claim names, roles and PASS / FAIL /
NOT REPRODUCED / SKIPPED only: measured floats differ in their last digits across CPUs. The measured values
reach the reader through :meth:`Claims.details` (a table: claim, paper, ours, threshold, control, status)
and the runner through the output's metadata. A failed claim raises :class:`ClaimFailure`, so papermill,
nbval and the site build all fail.
"""

from __future__ import annotations

import math
import operator
from dataclasses import asdict, dataclass
from typing import Any, Iterable, List, Mapping, Optional, Sequence, Tuple

OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}
METADATA_KEY = "theorylab_claims"

PASS, FAIL, NOT_REPRODUCED, SKIPPED = "PASS", "FAIL", "NOT REPRODUCED", "SKIPPED"
HEADLINE, SUPPORTING = "headline", "supporting"
ROLES = (HEADLINE, SUPPORTING)
VERDICTS = ("reproduced", "partly", "not reproduced", "not tested at this scale")
MAX_HEADLINES = 3


class ClaimFailure(AssertionError):
    """Raised by :meth:`Claims.report` when a checked claim does not hold."""


class ClaimDesignError(ClaimFailure):
    """Raised when a headline's negative control passes the headline's own rule."""


@dataclass
class Claim:
    name: str
    value: Optional[float]
    op: Optional[str]
    threshold: Optional[float]
    passed: Optional[bool]
    status: str
    note: str = ""
    role: str = SUPPORTING
    paper: str = ""
    control: str = ""
    control_value: Optional[float] = None
    control_passed: Optional[bool] = None

    def measured(self) -> str:
        return "-" if self.value is None else f"{self.value:.4g}"

    def rule(self) -> str:
        return "-" if self.op is None else f"{self.op} {self.threshold:.4g}"

    def control_text(self) -> str:
        if not self.control:
            return "-"
        return f"{self.control}: {self.control_value:.4g}"


def _as_float(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"claim {name!r}: measured value must be a number, got {value!r}") from exc
    if math.isinf(v):
        raise ValueError(f"claim {name!r}: measured value is infinite; a claim needs a finite statistic")
    return v


def _holds(v: float, op: str, threshold: float) -> bool:
    return (not math.isnan(v)) and bool(OPS[op](v, float(threshold)))


def _check_op(op: str) -> None:
    if op not in OPS:
        raise ValueError(f"op must be one of {', '.join(OPS)}; got {op!r}")


def _control(name: str, control: Any) -> Tuple[str, float]:
    if not (isinstance(control, (tuple, list)) and len(control) == 2 and isinstance(control[0], str)):
        raise TypeError(f"claim {name!r}: control must be (label of the rival model, its value); got {control!r}")
    return control[0], _as_float(f"{name} (control)", control[1])


def verdict_of(records: Iterable[Mapping[str, Any]]) -> str:
    """The chapter's verdict from its claim records: computed from the headline claims only."""
    heads = [r for r in records if r.get("role") == HEADLINE and r.get("status") != SKIPPED]
    if not heads:
        return VERDICTS[3]
    n_ok = sum(r["status"] == PASS for r in heads)
    if n_ok == len(heads):
        return VERDICTS[0]
    return VERDICTS[1] if n_ok else VERDICTS[2]


class Claims:
    """Collects a chapter's claims, then :meth:`report` prints the table and raises on failure.

    >>> c = Claims()
    >>> c.headline("trained layer = one GD step", 0.01, "<=", 0.05, paper="~0 (Fig. 2)",
    ...            control=("softmax layer", 0.4))
    >>> c.supporting("loss falls", 0.1, "<=", 0.5)
    >>> c.verdict()
    'reproduced'
    """

    def __init__(self) -> None:
        self.items: List[Claim] = []

    def _add(self, claim: Claim) -> None:
        if any(c.name == claim.name for c in self.items):
            raise ValueError(f"claim {claim.name!r} is declared twice")
        if claim.role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}; got {claim.role!r}")
        if claim.role == HEADLINE and sum(c.role == HEADLINE for c in self.items) >= MAX_HEADLINES:
            raise ValueError(f"a chapter has at most {MAX_HEADLINES} headline claims")
        self.items.append(claim)

    def _make(self, name, value, op, threshold, status_if, *, role, paper, control, note) -> Claim:
        _check_op(op)
        if role == HEADLINE and control is None:
            raise ValueError(f"headline {name!r} needs control=(label, value): the same statistic on the rival's model")
        v = _as_float(name, value)
        ok = _holds(v, op, threshold)
        c = Claim(name, v, op, float(threshold), ok, status_if(ok), note, role, str(paper or ""))
        if control is not None:
            c.control, c.control_value = _control(name, control)
            c.control_passed = _holds(c.control_value, op, threshold)
        return c

    def _checked(self, name, value, op, threshold, role, paper, control, note) -> bool:
        c = self._make(
            name,
            value,
            op,
            threshold,
            lambda ok: PASS if ok else FAIL,
            role=role,
            paper=paper,
            control=control,
            note=note,
        )
        self._add(c)
        return bool(c.passed)

    def headline(
        self, name: str, value: Any, op: str, threshold: float, *, control: Tuple[str, Any], paper: str = ""
    ) -> bool:
        """A headline claim: ``value op threshold`` must hold and the rival's ``control`` value must not.

        ``paper``: the paper's own number with its figure/table (text), or "" when it gives none.
        """
        return self._checked(name, value, op, threshold, HEADLINE, paper, control, "")

    def supporting(
        self, name: str, value: Any, op: str, threshold: float, *, paper: str = "", control=None, note: str = ""
    ) -> bool:
        """A supporting claim (a signature of the mechanism): ``value op threshold`` must hold."""
        return self._checked(name, value, op, threshold, SUPPORTING, paper, control, note)

    def check(self, name: str, value: Any, op: str, threshold: float, note: str = "") -> bool:
        """Chapter standard v1: a supporting claim. New chapters use :meth:`headline` / :meth:`supporting`."""
        return self.supporting(name, value, op, threshold, note=note)

    def not_reproduced(
        self,
        name: str,
        value: Any,
        op: str,
        threshold: float,
        why: str,
        *,
        headline: bool = False,
        paper: str = "",
        control=None,
    ) -> None:
        """A claim the chapter declares NOT reproduced at its scale, with the reason.

        It is still measured and recorded (``passed`` says whether it happened to hold this run), but it never
        raises and is always shown as NOT REPRODUCED. A headline declared so still needs its control.
        """
        if not why:
            raise ValueError("a claim declared not reproduced needs a reason (why=...)")
        c = self._make(
            name,
            value,
            op,
            threshold,
            lambda ok: NOT_REPRODUCED,
            role=HEADLINE if headline else SUPPORTING,
            paper=paper,
            control=control,
            note=why,
        )
        self._add(c)

    def skip(self, name: str, why: str, *, headline: bool = False, paper: str = "") -> None:
        """A claim that is only checked at another scale (e.g. ``full``)."""
        self._add(
            Claim(name, None, None, None, None, SKIPPED, why, HEADLINE if headline else SUPPORTING, str(paper or ""))
        )

    # -- reporting -----------------------------------------------------------------------
    def records(self) -> List[dict]:
        return [asdict(c) for c in self.items]

    def verdict(self) -> str:
        return verdict_of(self.records())

    def failed(self) -> List[Claim]:
        return [c for c in self.items if c.status == FAIL]

    def bad_controls(self) -> List[Claim]:
        """Checked headlines whose control also satisfies their rule (declared NOT REPRODUCED ones are exempt:
        their claim is not made, so a rival that shows the effect on some seed contradicts nothing)."""
        return [c for c in self.items if c.role == HEADLINE and c.status != NOT_REPRODUCED and c.control_passed]

    def summary_text(self) -> str:
        heads = [c for c in self.items if c.role == HEADLINE and c.status != SKIPPED]
        n_ok = sum(c.status == PASS for c in heads)
        lines = [f"verdict: {self.verdict().upper()} ({n_ok} of {len(heads)} headline claims hold)"]
        width = max([len(c.name) for c in self.items] + [5])
        for role in ROLES:
            for c in self.items:
                if c.role == role:
                    lines.append(f"{role:10}  {c.name.ljust(width)}  {c.status}")
        counts = {s: sum(c.status == s for c in self.items) for s in (PASS, FAIL, NOT_REPRODUCED, SKIPPED)}
        lines.append(
            f"claims: {counts[PASS]} pass, {counts[FAIL]} fail, "
            f"{counts[NOT_REPRODUCED]} not reproduced, {counts[SKIPPED]} skipped at this scale"
        )
        return "\n".join(lines)

    def table_rows(self) -> List[Sequence[str]]:
        rows = []
        for role in ROLES:
            for c in self.items:
                if c.role == role:
                    rows.append(
                        (c.name, role, c.paper or "-", c.measured(), c.rule(), c.control_text(), c.status, c.note)
                    )
        return rows

    def details_markdown(self) -> str:
        head = ("claim", "role", "paper", "ours", "threshold", "control (rival: value)", "status", "note")
        esc = [[str(x).replace("|", "/").replace("\n", " ") for x in r] for r in self.table_rows()]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in esc]
        return "\n".join(lines)

    def details_text(self) -> str:
        rows = [("claim", "role", "paper", "ours", "threshold", "control", "status", "note")]
        rows += list(self.table_rows())
        widths = [max(len(r[i]) for r in rows) for i in range(7)]
        return "\n".join(
            "  ".join(r[i].ljust(widths[i]) for i in range(7)) + ("  " + r[7] if r[7] else "") for r in rows
        )

    def report(self) -> None:
        """Print the verdict and the PASS/FAIL table (names only), attach the measured values as output
        metadata, and raise :class:`ClaimFailure` if a checked claim failed (or :class:`ClaimDesignError`
        if a headline's control passed its rule)."""
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
        design = self.bad_controls()
        if design:
            lines = [f"{c.name}: control {c.control_text()} also satisfies {c.rule()}" for c in design]
            raise ClaimDesignError("this statistic cannot tell the claim from its rival:\n  " + "\n  ".join(lines))
        bad = self.failed()
        if bad:
            lines = [f"{c.name}: measured {c.measured()}, needed {c.rule()}" for c in bad]
            raise ClaimFailure(f"{len(bad)} claim(s) failed:\n  " + "\n  ".join(lines))

    def details(self) -> None:
        """Show every claim with the paper's value, ours, the threshold and the control (not compared by nbval)."""
        try:
            from IPython import get_ipython
            from IPython.display import Markdown, display

            if get_ipython() is not None:
                display(Markdown(self.details_markdown()))
                return
        except ImportError:  # pragma: no cover
            pass
        print(self.details_text())
