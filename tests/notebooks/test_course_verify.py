"""`labkit verify` executes notebooks headless and names the failing cell."""

from __future__ import annotations

import nbformat
import pytest

from labkit.verify import run_verify, summary, verify

PARAMS = ("code", 'backend = "auto"\nspeed = None\nduration = 30\nseed = 0', ["parameters"])


def test_passing_notebook_gets_parameters_injected(notebook_factory, tmp_path):
    nb = notebook_factory("ok.ipynb", [
        ("markdown", "# OK", []),
        PARAMS,
        ("code", "assert backend == 'sim', backend\nassert duration == 7\nprint('ran')",
         ["verification"]),
    ])
    [r] = verify([nb], backend="sim", duration=7, out=tmp_path / "out", jobs=1)
    assert r.passed and r.failing_cell == ""
    executed = nbformat.read(r.output, as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    assert "widgets" not in executed.metadata   # store_widget_state=False


@pytest.mark.parametrize("cells, expected", [
    pytest.param([("code", "from labkit.checks import require, Check\n"
                   "require(Check('scaled', False, 'never', ('raise maxReplicas',)))",
                   ["verification"])],
                 ["[verification]", "VerificationFailed", "[FAIL] scaled: never"], id="failed-check"),
    pytest.param([("code", "1 / 0", [])], ["ZeroDivisionError", "1 / 0"], id="error-in-cell"),
    pytest.param([("code", "import labkit_no_such_module", ["exercise"])],
                 ["[exercise]", "ModuleNotFoundError"], id="missing-import"),
])
def test_failing_notebook_names_the_cell(notebook_factory, tmp_path, cells, expected):
    nb = notebook_factory("bad.ipynb", [("markdown", "# Bad", []), PARAMS, *cells,
                                        ("code", "print('never reached')", [])])
    [r] = verify([nb], backend="sim", out=tmp_path / "out", jobs=1)
    assert not r.passed
    for text in expected:
        assert text in r.failing_cell
    assert "FAIL" in summary([r])


def test_run_verify_exit_status_and_table(notebook_factory, tmp_path, capsys):
    good = notebook_factory("good.ipynb", [PARAMS, ("code", "x = 1", [])])
    bad = notebook_factory("bad.ipynb", [PARAMS, ("code", "assert False, 'boom'", [])])
    assert run_verify([good], backend="sim", out=str(tmp_path / "o1")) == 0
    assert run_verify([good, bad], backend="sim", out=str(tmp_path / "o2")) == 1
    out = capsys.readouterr().out
    assert "good.ipynb" in out and "bad.ipynb" in out and "AssertionError: boom" in out
    assert (tmp_path / "o2" / "bad.ipynb").exists()


def test_unknown_notebook_is_a_clear_error(tmp_path):
    with pytest.raises(Exception, match="no such notebook"):
        verify([tmp_path / "nope.ipynb"], out=tmp_path)
