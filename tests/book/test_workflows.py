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
