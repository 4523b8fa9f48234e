"""``python -m theorylab.book COMMAND``: run chapters, sync setup cells, write the status page."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .paths import find_root


def _seeds(text: str):
    out = []
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-", 1)
            out += list(range(int(a), int(b) + 1))
        elif part:
            out.append(int(part))
    if not out or any(s < 0 for s in out):
        raise argparse.ArgumentTypeError(f"seeds must look like 0 or 0-4 or 0,3,7; got {text!r}")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m theorylab.book", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)

    r = sub.add_parser("run", help="execute chapters with papermill and record their claims and timings")
    r.add_argument(
        "targets",
        nargs="*",
        default=["all"],
        help="all | partN | a part folder | a paper id | a notebook path (default: all)",
    )
    r.add_argument("--scale", default="ci", help="ci | full (default ci)")
    r.add_argument("--device", default="auto", help="auto | cpu | cuda (default auto)")
    r.add_argument("--seeds", type=_seeds, default=[0], help="e.g. 0, 0-4 or 0,3,7 (default 0)")
    r.add_argument("--workers", type=int, default=1, help="parallel papermill processes (default 1)")
    r.add_argument(
        "--store",
        action="store_true",
        help="write the cleaned seed-0 ci outputs back into chapters/ (the canonical stored run)",
    )
    r.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a chapter-specific parameter (unknown names are rejected)",
    )
    r.add_argument("--out", type=Path, default=None, help="folder for executed copies (default _build/runs)")
    r.add_argument("--no-record", action="store_true", help="do not write data/runs records")
    r.add_argument(
        "--fresh-only",
        action="store_true",
        help="skip chapters whose stored run is current (same code cells, theorylab sources, torch)",
    )

    k = sub.add_parser(
        "calibrate",
        help="run a chapter on seeds 0-19 (seed 0 stored), write data/calibration/<id>.json "
        "and print each claim's calibration (seeds 0-9) and held-out pass rate (10-19)",
    )
    k.add_argument("target", help="a paper id")
    k.add_argument("--workers", type=int, default=1)
    k.add_argument("--report-only", action="store_true", help="recompute from the existing records, run nothing")

    pp = sub.add_parser("parts", help="print the parts that have chapters (a JSON list; the CI matrix)")
    pp.add_argument("--json", action="store_true")

    sub.add_parser("sync", help="write the canonical setup cell (repository URL from _config.yml) into every chapter")
    sub.add_parser("status", help="write the reproduction status page from data/")
    c = sub.add_parser("import-catalog", help="write data/papers.json and references.bib from a research catalog")
    c.add_argument("catalog", type=Path)

    a = ap.parse_args(argv)
    root = find_root()
    if a.cmd == "run":
        from .runner import RunnerError, parse_params, run

        try:
            results = run(
                root,
                a.targets,
                scale=a.scale,
                device=a.device,
                seeds=a.seeds,
                workers=a.workers,
                store=a.store,
                params=parse_params(a.param),
                out_dir=a.out,
                write_records=not a.no_record,
                fresh_only=a.fresh_only,
            )
        except RunnerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        bad = [x for x in results if x.status != "ok"]
        if bad:
            print(f"{len(bad)} of {len(results)} chapter run(s) failed", file=sys.stderr)
            return 1
        return 0
    if a.cmd == "calibrate":
        from .calibration import calibrate

        return calibrate(root, a.target, workers=a.workers, report_only=a.report_only)
    if a.cmd == "parts":
        import json

        from .paths import PARTS, chapter_notebooks

        have = sorted({n.parent.name for n in chapter_notebooks(root)})
        nums = [f"part{k}" for k, (slug, _) in PARTS.items() if slug in have]
        print(json.dumps(nums) if a.json else "\n".join(nums))
        return 0
    if a.cmd == "sync":
        from .sync import sync_all

        changed = sync_all(root)
        print(f"setup cells synced; {len(changed)} notebook(s) changed")
        return 0
    if a.cmd == "status":
        from .status import write_status

        path = write_status(root)
        print(f"wrote {path.relative_to(root)}")
        return 0
    if a.cmd == "import-catalog":
        from .catalog import import_catalog

        n = import_catalog(a.catalog, root)
        print(f"wrote data/papers.json and references.bib ({n} papers)")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
