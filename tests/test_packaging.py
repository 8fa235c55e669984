"""pyproject.toml and environment.yml agree; the README's commands are the ones CI runs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_installs_this_project_and_nothing_else():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    conda = [d for d in deps if isinstance(d, str)]
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    # Only the interpreter and pip come from conda: the list lives in pyproject.toml.
    assert sorted(re.split(r"[=<>]", d)[0] for d in conda) == ["pip", "python"]
    assert pip == ['-e ".[test]"']
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    python = next(d for d in conda if d.startswith("python"))
    minimum = project["requires-python"].removeprefix(">=")
    assert tuple(map(int, python.split("=")[1].split("."))) >= tuple(map(int, minimum.split(".")))
    assert "test" in project["optional-dependencies"]


def test_required_packages_are_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[<>=!~\[ ]", d)[0].lower() for d in project["dependencies"]}
    for required in ("jupyterlab", "ipywidgets", "kubernetes", "plotly", "anywidget", "locust",
                     "papermill", "nbval", "jupytext"):
        assert required in names


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("```bash", 1)[1].split("```", 1)[0]
    lines = [ln.strip() for ln in block.strip().splitlines()]
    assert [ln.split()[0:2] for ln in lines] == [["make", "lab"], ["make", "test"]]
    assert lines[1] in (ROOT / ".ci" / "run").read_text()


def _make_rule(makefile: str, target: str) -> tuple[str, str]:
    """(prerequisites, recipe) of ``target`` in the Makefile."""
    lines = makefile.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(f"{target}:"):
            recipe = []
            for nxt in lines[i + 1:]:
                if not nxt.startswith("\t"):
                    break
                recipe.append(nxt)
            return line.split(":", 1)[1].split("##")[0], "\n".join(recipe)
    raise AssertionError(f"no rule for {target} in the Makefile")


def test_make_lab_installs_the_lab_and_make_test_adds_the_test_tools():
    makefile = (ROOT / "Makefile").read_text()
    _, lab_install = _make_rule(makefile, "$(BIN)/labkit")
    assert "pip install" in lab_install and "-e ." in lab_install and "[test]" not in lab_install
    lab_needs, _ = _make_rule(makefile, "lab")
    assert "setup" in lab_needs
    test_needs, _ = _make_rule(makefile, "test")
    extras = test_needs.split()[0]
    _, extras_install = _make_rule(makefile, extras)
    assert "-e '.[test]'" in extras_install
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    test_tools = {re.split(r"[<>=!~\[ ]", d)[0].lower()
                  for d in project["optional-dependencies"]["test"]}
    assert "playwright" in test_tools and "playwright" not in {
        re.split(r"[<>=!~\[ ]", d)[0].lower() for d in project["dependencies"]}
