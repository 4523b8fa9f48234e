"""Calibrate a chapter's thresholds on seeds 0-9 and validate them on held-out seeds 10-19.

``python -m theorylab.book calibrate 21`` runs the chapter at ``ci`` on seeds 0-19 (seed 0's outputs are
stored), then writes ``data/calibration/<id>.json``: for every claim its mean and standard deviation over the
calibration seeds, the margin between that mean and the threshold in seed standard deviations, the held-out
pass rate, and for headlines the same for the rival's control. A checked claim needs a margin of at least
:data:`MIN_MARGIN` standard deviations and every held-out seed passing; a headline's control must fail its rule
on every seed. Anything else is flagged, and the command exits non-zero.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Dict, List

CALIBRATION_SEEDS = tuple(range(10))
HELDOUT_SEEDS = tuple(range(10, 20))
MIN_MARGIN = 2.0


def _margin(values: List[float], op: str, threshold: float) -> float:
    """(mean - threshold) in seed standard deviations, positive on the passing side (inf when sd = 0)."""
    m = sum(values) / len(values)
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / max(1, len(values) - 1))
    gap = (m - threshold) if op in (">=", ">") else (threshold - m)
    if sd == 0:
        return math.inf if gap > 0 else (-math.inf if gap < 0 else 0.0)
    return gap / sd


def _stats(values: List[float]) -> Dict[str, float]:
    m = sum(values) / len(values)
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / max(1, len(values) - 1))
    return {"mean": m, "sd": sd, "min": min(values), "max": max(values)}


def _num(x: float):
    return None if x is None or (isinstance(x, float) and math.isinf(x)) else round(float(x), 6)


def analyse(record: dict) -> dict:
    """The calibration summary of a chapter's run record (``data/runs/ci/<id>.json``)."""
    from ..claims import verdict_of

    runs = record["runs"]
    missing = [s for s in CALIBRATION_SEEDS + HELDOUT_SEEDS if str(s) not in runs]
    if missing:
        raise ValueError(f"paper {record['paper']}: seeds {missing} have no run; calibrate runs seeds 0-19")
    hashes = {(runs[str(s)].get("code_hash"), runs[str(s)].get("lib_hash")) for s in CALIBRATION_SEEDS + HELDOUT_SEEDS}
    if len(hashes) != 1:
        raise ValueError(f"paper {record['paper']}: seeds 0-19 ran different code; run calibrate again")
    code_hash, lib_hash = hashes.pop()
    names = [c["name"] for c in runs["0"]["claims"]]
    rows = []
    for name in names:
        per = {}
        for s in CALIBRATION_SEEDS + HELDOUT_SEEDS:
            hit = [c for c in runs[str(s)]["claims"] if c["name"] == name]
            per[s] = hit[0] if hit else None
        first = per[0]
        row = {
            "name": name,
            "role": first.get("role", "supporting"),
            "status": first["status"],
            "op": first["op"],
            "threshold": first["threshold"],
        }
        if first["op"] is None:  # skipped at this scale
            row["ok"] = True
            rows.append(row)
            continue
        cal = [per[s]["value"] for s in CALIBRATION_SEEDS if per[s] and per[s]["value"] is not None]
        held = [per[s] for s in HELDOUT_SEEDS]
        st = _stats(cal)
        margin = _margin(cal, first["op"], first["threshold"])
        held_pass = sum(bool(h and h["passed"]) for h in held)
        row.update(
            calib_mean=_num(st["mean"]),
            calib_sd=_num(st["sd"]),
            calib_min=_num(st["min"]),
            calib_max=_num(st["max"]),
            margin_sd=_num(margin),
            heldout_pass=held_pass,
            values={str(s): (per[s] or {}).get("value") for s in per},
        )
        checked = first["status"] in ("PASS", "FAIL")
        flags = []
        if checked and margin < MIN_MARGIN:
            flags.append(f"threshold within {MIN_MARGIN:g} sd of the calibration mean (margin {margin:.2f})")
        if checked and held_pass < len(HELDOUT_SEEDS):
            flags.append(f"held-out seeds pass {held_pass}/{len(HELDOUT_SEEDS)}")
        if first.get("control"):
            cvals = [per[s]["control_value"] for s in per if per[s] and per[s].get("control_value") is not None]
            cpass = sum(bool(per[s] and per[s].get("control_passed")) for s in per)
            row.update(
                control=first["control"],
                control_mean=_num(_stats(cvals)["mean"]),
                control_margin_sd=_num(-_margin(cvals, first["op"], first["threshold"])),
                control_passes=cpass,
            )
            if cpass:
                flags.append(f"the rival's control passes the rule on {cpass} of 20 seeds")
        row["flags"] = flags
        row["ok"] = not flags
        rows.append(row)
    verdicts = {s: verdict_of(runs[s]["claims"]) for s in runs if int(s) in CALIBRATION_SEEDS + HELDOUT_SEEDS}
    held_ok = sum(runs[str(s)]["status"] == "ok" for s in HELDOUT_SEEDS)
    return {
        "paper": record["paper"],
        "chapter": record.get("chapter"),
        "code_hash": code_hash,
        "lib_hash": lib_hash,
        "calibration_seeds": list(CALIBRATION_SEEDS),
        "heldout_seeds": list(HELDOUT_SEEDS),
        "calibration_pass": sum(runs[str(s)]["status"] == "ok" for s in CALIBRATION_SEEDS),
        "heldout_pass": held_ok,
        "verdict": verdicts["0"],
        "verdict_stable": len(set(verdicts.values())) == 1,
        "seconds_seed0": runs["0"]["seconds"],
        "claims": rows,
        "ok": all(r["ok"] for r in rows) and held_ok == len(HELDOUT_SEEDS),
    }


def table(summary: dict) -> str:
    lines = [
        f"paper {summary['paper']}: verdict {summary['verdict']!r} "
        f"(same on every seed: {summary['verdict_stable']}); runs ok: calibration "
        f"{summary['calibration_pass']}/10, held-out {summary['heldout_pass']}/10"
    ]
    lines.append(f"{'claim':60} {'role':10} {'status':14} {'mean':>10} {'sd':>9} {'thr':>9} {'margin':>7} held")
    for r in summary["claims"]:
        if r["op"] is None:
            lines.append(f"{r['name'][:60]:60} {r['role']:10} {r['status']:14} (skipped at ci)")
            continue
        m = r["margin_sd"]
        m_text = "inf" if m is None else (">1000" if m > 1000 else f"{m:.1f}")
        lines.append(
            f"{r['name'][:60]:60} {r['role']:10} {r['status']:14} {r['calib_mean']:10.4g} "
            f"{r['calib_sd']:9.3g} {r['threshold']:9.4g} {m_text:>7} "
            f"{r['heldout_pass']}/10"
        )
        if r.get("control"):
            cm = r["control_margin_sd"]
            lines.append(
                f"    control {r['control']}: mean {r['control_mean']:.4g}, fails by "
                f"{'inf' if cm is None else f'{cm:.1f}'} sd, passes on {r['control_passes']}/20 seeds"
            )
        for f in r.get("flags", []):
            lines.append(f"    FLAG: {f}")
    lines.append(
        "calibration OK"
        if summary["ok"]
        else "calibration FLAGGED: fix the statistic, or declare the claim not reproduced with its reason"
    )
    return "\n".join(lines)


def calibrate(root: Path, target: str, *, workers: int = 1, report_only: bool = False, echo=print) -> int:
    from .paths import paper_id
    from .runner import RunnerError, run, select

    try:
        (nb,) = select(root, [target])
    except (RunnerError, ValueError) as exc:
        echo(f"error: calibrate takes one paper id: {exc}")
        return 2
    pid = paper_id(nb)
    if not report_only:
        run(
            root,
            [str(pid)],
            scale="ci",
            device="cpu",
            seeds=list(CALIBRATION_SEEDS + HELDOUT_SEEDS),
            workers=workers,
            store=True,
            echo=echo,
        )
    record = json.loads((root / "data" / "runs" / "ci" / f"{pid:03d}.json").read_text())
    summary = analyse(record)
    out = root / "data" / "calibration" / f"{pid:03d}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    echo(table(summary))
    echo(f"wrote {out.relative_to(root)}")
    return 0 if summary["ok"] else 1
