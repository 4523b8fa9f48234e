"""Calibration of thresholds on seeds 0-9 and validation on seeds 10-19, on synthetic run records."""

import pytest

from theorylab.book.calibration import analyse, table


def _record(values, threshold=0.5, control=2.0, op="<="):
    runs = {}
    for s, v in enumerate(values):
        ok = v <= threshold if op == "<=" else v >= threshold
        claim = {
            "name": "h",
            "role": "headline",
            "value": v,
            "op": op,
            "threshold": threshold,
            "passed": ok,
            "status": "PASS" if ok else "FAIL",
            "control": "rival",
            "control_value": control,
            "control_passed": control <= threshold,
        }
        runs[str(s)] = {
            "status": "ok" if ok else "error",
            "claims": [claim],
            "code_hash": "c",
            "lib_hash": "l",
            "seconds": 1.0,
        }
    return {"paper": 1, "runs": runs}


def test_a_wide_margin_passes():
    s = analyse(_record([0.1 + 0.001 * i for i in range(20)]))
    assert s["ok"] and s["verdict"] == "reproduced" and s["heldout_pass"] == 10
    (row,) = s["claims"]
    assert row["margin_sd"] > 2 and row["control_passes"] == 0
    assert "calibration OK" in table(s)


def test_a_threshold_within_two_sd_is_flagged():
    vals = [0.45, 0.40, 0.48, 0.42, 0.47, 0.41, 0.46, 0.43, 0.44, 0.49] * 2
    s = analyse(_record(vals))
    assert not s["ok"] and "within 2 sd" in s["claims"][0]["flags"][0]


def test_a_failing_heldout_seed_and_a_passing_control_are_flagged():
    vals = [0.1] * 10 + [0.1] * 9 + [0.9]
    s = analyse(_record(vals, control=0.2))
    flags = " ".join(s["claims"][0]["flags"])
    assert "held-out seeds pass 9/10" in flags and "control passes" in flags and not s["ok"]


def test_missing_seeds_or_mixed_code_are_errors():
    rec = _record([0.1] * 20)
    del rec["runs"]["19"]
    with pytest.raises(ValueError, match="seeds"):
        analyse(rec)
    rec = _record([0.1] * 20)
    rec["runs"]["3"]["code_hash"] = "other"
    with pytest.raises(ValueError, match="different code"):
        analyse(rec)
