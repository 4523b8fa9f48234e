"""The book's runner: execute chapters with papermill at a scale, device and seeds, in parallel,
store canonical outputs, and record per chapter and seed the wall seconds, device, commit, date
and every claim in ``data/runs/<scale>/<paper id>.json``.

A failing chapter is reported with its chapter, cell and error; the others run on and keep their
results; the exit status is then non-zero.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import subprocess
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from ..env import DEVICES, SCALES, check_choice
from . import notebooks as nbt
from .kernels import is_start_failure, with_retries
from .paths import PARTS, chapter_notebooks, paper_id

BUDGET_S = {"ci": 30.0, "full": 600.0}
# A cell that runs this long is stuck (a hung kernel, a dead widget comm): fail it rather than wait forever.
CELL_TIMEOUT_S = {"ci": 300, "full": 1800}
BASE_PARAMS = ("scale", "seed", "device")


class RunnerError(ValueError):
    """Bad input to the runner (unknown chapter, parameter or value)."""


@dataclass
class Job:
    notebook: str  # absolute path
    rel: str  # path relative to the book root
    seed: int
    scale: str
    device: str
    params: Dict[str, object]
    output: str  # where the executed notebook goes
    store: bool  # write the cleaned result back into chapters/


@dataclass
class Result:
    chapter: str
    paper: int
    seed: int
    scale: str
    device: str
    seconds: float
    status: str  # "ok" | "error"
    commit: str
    date: str
    claims: List[dict] = field(default_factory=list)
    error: Optional[dict] = None
    over_budget: bool = False
    code_hash: str = ""  # the chapter's code cells (see deps.code_hash)
    lib_hash: str = ""  # the theorylab sources it uses (see deps.lib_hash)
    torch: str = ""  # torch version of the run
    params: Dict[str, object] = field(default_factory=dict)  # chapter-specific parameters (-p)


# -- selecting chapters ----------------------------------------------------------------------
def select(root: Path, targets: Sequence[str]) -> List[Path]:
    """``all``; a part (``part01``, ``1``… via ``part:1``, or the folder name); a paper id (``21``);
    or a notebook path."""
    every = chapter_notebooks(root)
    if not targets or list(targets) == ["all"]:
        return every
    chosen: List[Path] = []
    for t in targets:
        hits: List[Path] = []
        p = Path(t)
        if t.endswith(".ipynb"):
            full = (root / p) if not p.is_absolute() else p
            if not full.is_file():
                raise RunnerError(f"no such chapter notebook: {t}")
            hits = [full.resolve()]
        elif t.startswith("part"):
            num = t[4:].lstrip(":-")
            if not num.isdigit() or int(num) not in PARTS:
                raise RunnerError(f"unknown part {t!r}; parts are part1 .. part{len(PARTS)}")
            folder = PARTS[int(num)][0]
            hits = [n for n in every if n.parent.name == folder]
        elif t in {v[0] for v in PARTS.values()}:
            hits = [n for n in every if n.parent.name == t]
        elif t.isdigit():
            hits = [n for n in every if paper_id(n) == int(t)]
            if not hits:
                raise RunnerError(f"no chapter for paper id {t} (yet)")
        else:
            raise RunnerError(f"unknown target {t!r}: use all, partN, a part folder, a paper id or a .ipynb path")
        chosen += [h for h in hits if h not in chosen]
    return chosen


def notebook_parameters(path: Path) -> Dict[str, object]:
    import papermill as pm

    return {k: v for k, v in pm.inspect_notebook(str(path)).items()}


def parse_params(pairs: Sequence[str]) -> Dict[str, object]:
    out: Dict[str, object] = {}
    for pair in pairs:
        if "=" not in pair:
            raise RunnerError(f"parameter {pair!r} must be name=value")
        k, v = pair.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


# -- facts about the run ---------------------------------------------------------------------
def git_commit(root: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
        return out.stdout.strip() or "uncommitted"
    except OSError:
        return "unknown"


def resolved_device(device: str) -> str:
    if device != "auto":
        return device
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


def provenance_text(scale: str, device: str, seed: int, commit: str, date: str, rel: str) -> str:
    pid = Path(rel).name.split("-", 1)[0]
    return (
        f"*Stored outputs: scale `{scale}`, device `{device}`, seed `{seed}`, commit `{commit}`, {date}. "
        f"Run it yourself with the Colab button above, or locally with "
        f"`make chapter CH={pid} SCALE=full SEED=1`.*"
    )


# -- executing one job (in a worker process) -------------------------------------------------
def gpu_name(device: str) -> str:
    if device != "cuda":
        return ""
    try:
        import torch

        return torch.cuda.get_device_name(0)
    except Exception:  # noqa: BLE001 - a record without the name is still a record
        return "cuda"


def torch_version() -> str:
    try:
        import torch

        return str(torch.__version__)
    except ImportError:
        return "none"


def _execute(job: Job, commit: str, date: str, root: str) -> Result:
    import papermill as pm

    from . import deps

    c_hash, l_hash = deps.code_hash(Path(job.notebook)), deps.lib_hash(Path(root), Path(job.notebook))

    params = dict(job.params, scale=job.scale, seed=job.seed, device=job.device)
    Path(job.output).parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    error = None
    try:
        with_retries(
            lambda: pm.execute_notebook(
                job.notebook,
                job.output,
                parameters=params,
                kernel_name="python3",
                progress_bar=False,
                log_output=False,
                cwd=str(Path(job.notebook).parent),
                execution_timeout=CELL_TIMEOUT_S[job.scale],
            ),
            retry_if=lambda e: not isinstance(e, pm.PapermillExecutionError) and is_start_failure(e),
        )
        status = "ok"
    except pm.PapermillExecutionError as exc:
        status = "error"
        error = {
            "cell": exc.cell_index,
            "exec_count": exc.exec_count,
            "ename": exc.ename,
            "evalue": str(exc.evalue)[:2000],
        }
    except Exception as exc:  # kernel died, bad notebook, ...
        status = "error"
        error = {"cell": None, "exec_count": None, "ename": type(exc).__name__, "evalue": str(exc)[:2000]}
    seconds = time.perf_counter() - t0
    claims: List[dict] = []
    out = Path(job.output)
    if out.exists():
        nb = nbt.read(out)
        claims = nbt.claims_records(nb) or []
        if error is not None:
            located = nbt.error_cell(nb)
            if located is not None:
                # the index in the chapter as written (papermill's injected and error-marker cells skipped)
                error["cell"], cell = located
                error["cell_source"] = (nbt.source(cell).strip().splitlines() or [""])[0][:120]
        if status == "ok":
            # every executed copy is cleaned (it may be published: the GPU site is built from them)
            nb = nbt.clean(nb)
            nbt.set_provenance(
                nb, provenance_text(job.scale, resolved_device(job.device), job.seed, commit, date, job.rel)
            )
            nbt.write(out, nb)
            if job.store:
                nbt.write(Path(job.notebook), nb)
    return Result(
        chapter=job.rel,
        paper=paper_id(Path(job.notebook)),
        seed=job.seed,
        scale=job.scale,
        device=resolved_device(job.device),
        seconds=round(seconds, 2),
        status=status,
        commit=commit,
        date=date,
        claims=claims,
        error=error,
        over_budget=seconds > BUDGET_S[job.scale],
        code_hash=c_hash,
        lib_hash=l_hash,
        torch=torch_version(),
        params=dict(job.params),
    )


# -- execute once ----------------------------------------------------------------------------
def is_current(root: Path, notebook: Path, scale: str = "ci", device: str = "auto", params=None) -> bool:
    """True when the chapter's stored seed-0 run used the same code cells, theorylab sources, torch version
    and parameters, and succeeded: executing it again would give the same page."""
    from . import deps

    path = root / "data" / "runs" / scale / f"{paper_id(notebook):03d}.json"
    if not path.is_file():
        return False
    entry = json.loads(path.read_text()).get("runs", {}).get("0")
    if not entry or entry.get("status") != "ok":
        return False
    return (
        entry.get("code_hash") == deps.code_hash(notebook)
        and entry.get("lib_hash") == deps.lib_hash(root, notebook)
        and entry.get("torch") == torch_version()
        and dict(entry.get("params") or {}) == dict(params or {})
        and entry.get("device") == resolved_device(device)
    )


# -- records --------------------------------------------------------------------------------
def record(root: Path, results: Sequence[Result]) -> None:
    """Merge results into ``data/runs/<scale>/<paper>.json`` (one entry per seed; newest wins)."""
    for r in results:
        path = root / "data" / "runs" / r.scale / f"{r.paper:03d}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = json.loads(path.read_text()) if path.exists() else {"paper": r.paper, "scale": r.scale, "runs": {}}
        doc["chapter"] = r.chapter
        entry = asdict(r)
        for k in ("chapter", "paper", "scale"):
            entry.pop(k)
        doc["runs"][str(r.seed)] = entry
        doc["runs"] = dict(sorted(doc["runs"].items(), key=lambda kv: int(kv[0])))
        path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


def summary(results: Sequence[Result]) -> str:
    lines = [f"{'chapter':58} seed  seconds  status  claims"]
    for r in sorted(results, key=lambda r: (r.chapter, r.seed)):
        n = {k: sum(c["status"] == k for c in r.claims) for k in ("PASS", "FAIL", "NOT REPRODUCED", "SKIPPED")}
        extra = f"{n['PASS']} pass, {n['FAIL']} fail"
        extra += f", {n['NOT REPRODUCED']} not reproduced" if n["NOT REPRODUCED"] else ""
        extra += f", {n['SKIPPED']} skipped at this scale" if n["SKIPPED"] else ""
        flag = "  OVER BUDGET" if r.over_budget else ""
        lines.append(f"{r.chapter:58} {r.seed:4d} {r.seconds:8.1f}  {r.status:6}  {extra}{flag}")
        if r.error:
            lines.append(
                f"    -> cell {r.error.get('cell')} ({r.error.get('cell_source', '?')!s}): "
                f"{r.error['ename']}: {r.error['evalue'].splitlines()[0] if r.error['evalue'] else ''}"
            )
    return "\n".join(lines)


# -- the command ---------------------------------------------------------------------------
def run(
    root: Path,
    targets: Sequence[str] = ("all",),
    *,
    scale: str = "ci",
    device: str = "auto",
    seeds: Sequence[int] = (0,),
    workers: int = 1,
    store: bool = False,
    params: Optional[Dict[str, object]] = None,
    out_dir: Optional[Path] = None,
    write_records: bool = True,
    fresh_only: bool = False,
    echo=print,
) -> List[Result]:
    try:
        check_choice("scale", scale, SCALES)
        check_choice("device", device, DEVICES)
    except ValueError as exc:
        raise RunnerError(str(exc)) from None
    if store and (scale != "ci" or device not in ("auto", "cpu")):
        raise RunnerError("--store keeps the canonical outputs, which are ci-scale CPU runs")
    params = dict(params or {})
    for k in BASE_PARAMS:
        if k in params:
            raise RunnerError(f"give {k} with --{k}, not -p")
    chapters = select(root, targets)
    if not chapters:
        raise RunnerError("no chapters selected")
    for nb in chapters:
        known = notebook_parameters(nb)
        missing = [k for k in BASE_PARAMS if k not in known]
        if missing:
            raise RunnerError(f"{nb.relative_to(root)}: its parameters cell lacks {', '.join(missing)}")
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise RunnerError(
                f"{nb.relative_to(root)}: unknown parameter(s) {', '.join(unknown)}; "
                f"this chapter takes {', '.join(sorted(known))}"
            )
    if fresh_only:
        stale = [nb for nb in chapters if not is_current(root, nb, scale, device, params)]
        for nb in chapters:
            if nb not in stale:
                echo(
                    f"{nb.relative_to(root)}: unchanged since its stored run (code, theorylab sources, torch): skipped"
                )
        chapters = stale
        if not chapters:
            echo("nothing to execute: every selected chapter's stored run is current")
            return []
    out_dir = Path(out_dir or root / "_build" / "runs")
    commit, date = git_commit(root), _dt.date.today().isoformat()
    jobs = []
    for nb in chapters:
        rel = nb.relative_to(root).as_posix()
        for s in seeds:
            jobs.append(
                Job(
                    str(nb),
                    rel,
                    int(s),
                    scale,
                    device,
                    params,
                    str(out_dir / scale / f"seed{s}" / rel),
                    store and int(s) == 0,
                )
            )
    env_before = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "THEORYLAB_BATCH")}
    os.environ["THEORYLAB_BATCH"] = "1"
    if workers > 1 or os.cpu_count() and os.cpu_count() <= 2:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        os.environ.setdefault("MKL_NUM_THREADS", "1")
    results: List[Result] = []
    try:
        with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
            futs = {pool.submit(_execute, j, commit, date, str(root)): j for j in jobs}
            for f in as_completed(futs):
                r = f.result()
                results.append(r)
                echo(f"[{len(results)}/{len(jobs)}] {r.chapter} seed {r.seed}: {r.status} in {r.seconds:.1f} s")
    finally:
        for k, v in env_before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    if write_records:
        record(root, results)
    echo(summary(results))
    return results
