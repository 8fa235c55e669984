"""Headless verification: execute the course notebooks with papermill and summarize them.

``labkit verify [--backend sim|kind] [NOTEBOOK ...]`` runs each notebook with its parameters
injected (backend, speed, seed, and duration when given), writes the executed copy to ``--out``
and prints one row per notebook: notebook, backend, seconds, PASS/FAIL and the failing cell
(its index, tags and the error's first line). The exit status is non-zero when any failed.

Built this way because:

- papermill's Python API, not its CLI, so widget state is not stored
  (``store_widget_state=False``: the CLI has no flag, and stored state embeds 5 MB of
  plotly.js per notebook; /work/shared/ECOSYSTEM-NOTES.md);
- notebooks run in separate processes, two at a time on a 2-core machine: each one starts
  its own kernel, so the time is mostly kernel start-up and imports;
- the kernel finds ``labkit`` through ``PYTHONPATH`` even when the package is not installed.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .errors import LabkitError

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
#: The course notebooks are numbered: 00-setup.ipynb ... 07-async-inference.ipynb.
COURSE_GLOB = "[0-9][0-9]-*.ipynb"


@dataclass(frozen=True)
class NotebookResult:
    """How one notebook fared: where its executed copy is and, on failure, which cell."""

    notebook: str
    backend: str
    seconds: float
    passed: bool
    output: str
    failing_cell: str = ""


def course_notebooks(directory: Path = NOTEBOOKS) -> list[Path]:
    """The numbered course notebooks, in order."""
    return sorted(directory.glob(COURSE_GLOB))


def describe_cell(nb: Any, index: int) -> str:
    """``cell 12 [verification]: first line of source`` for the cell at ``index``."""
    try:
        cell = nb.cells[index]
    except (IndexError, TypeError):
        return f"cell {index}"
    tags = cell.get("metadata", {}).get("tags", [])
    first = next((ln.strip() for ln in cell.get("source", "").splitlines() if ln.strip()), "")
    tag = f" [{', '.join(tags)}]" if tags else ""
    return f"cell {index}{tag}: {first[:60]}"


def _error_cell(nb: Any, fallback: int) -> int:
    """Index of the first cell with an error output (papermill adds a banner cell on top)."""
    for i, cell in enumerate(getattr(nb, "cells", [])):
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return i
    return fallback


def _kernel_env() -> None:
    """Let the kernel import labkit from this checkout, and tell labkit.live it is headless."""
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if str(REPO) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in paths if p])
    os.environ.setdefault("LABKIT_LIVE", "0")   # headless: static figures, no live panel


def execute(notebook: str | Path, output: str | Path, *, parameters: dict[str, Any],
            timeout: float = 600) -> NotebookResult:
    """Execute one notebook with papermill; never raises for a failure inside the notebook."""
    import nbformat
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    _kernel_env()
    notebook, output = Path(notebook), Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    failing = ""
    try:
        pm.execute_notebook(str(notebook), str(output), parameters=parameters,
                            kernel_name="python3", progress_bar=False,
                            cwd=str(notebook.parent.resolve()), store_widget_state=False,
                            execution_timeout=timeout)
    except PapermillExecutionError as e:
        nb = nbformat.read(str(output), as_version=4) if output.exists() else None
        lines = [ln.strip() for ln in str(e.evalue).strip().splitlines() if ln.strip()] or [""]
        first = " ".join(lines[:2]) if lines[0].endswith(":") else lines[0]
        failing = f"{describe_cell(nb, _error_cell(nb, e.cell_index))} -> {e.ename}: {first}"
    except Exception as e:  # kernel died, timeout, unreadable notebook
        failing = f"(no cell) {type(e).__name__}: {str(e).strip().splitlines()[0] if str(e) else ''}"
    return NotebookResult(notebook.name, str(parameters.get("backend", "")),
                          time.perf_counter() - start, not failing, str(output), failing)


def verify(notebooks: Sequence[str | Path] = (), *, backend: str = "sim",
           out: str | Path = NOTEBOOKS / "_executed", speed: float | None = None,
           duration: float | None = None, seed: int = 0, jobs: int | None = None,
           timeout: float = 600) -> list[NotebookResult]:
    """Execute ``notebooks`` (default: every course notebook) and return one result each."""
    paths = [Path(n) for n in notebooks] or course_notebooks()
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise LabkitError(f"no such notebook: {', '.join(missing)}; give paths like "
                          f"notebooks/01-hpa-v1.ipynb (or none for the whole course)")
    if not paths:
        raise LabkitError(f"no course notebooks found in {NOTEBOOKS}")
    params: dict[str, Any] = {"backend": backend, "speed": speed, "seed": seed}
    if duration is not None:
        params["duration"] = duration
    out = Path(out)
    jobs = jobs or min(2, os.cpu_count() or 1, len(paths))
    _kernel_env()
    if jobs == 1:
        return [execute(p, out / p.name, parameters=params, timeout=timeout) for p in paths]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(execute, p, out / p.name, parameters=params, timeout=timeout)
                   for p in paths]
        return [f.result() for f in futures]


def summary(results: Sequence[NotebookResult]) -> str:
    """The summary table: notebook, backend, duration, pass/fail, failing cell."""
    rows = [("notebook", "backend", "seconds", "result", "failing cell")]
    rows += [(r.notebook, r.backend, f"{r.seconds:.1f}", "PASS" if r.passed else "FAIL",
              r.failing_cell) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row[:4], widths)) + "  " + row[4]
             for row in rows]
    lines.insert(1, "-" * len(lines[0].rstrip()))
    return "\n".join(ln.rstrip() for ln in lines)


def run_verify(notebooks: list[str], *, backend: str = "sim",
               out: str = str(NOTEBOOKS / "_executed"), speed: float | None = None,
               duration: float | None = None, seed: int = 0) -> int:
    """``labkit verify``: execute, print the summary table, return the exit status."""
    start = time.perf_counter()
    results = verify(notebooks, backend=backend, out=out, speed=speed, duration=duration,
                     seed=seed)
    print(summary(results))
    failed = sum(not r.passed for r in results)
    print(f"\n{len(results) - failed}/{len(results)} notebooks passed on {backend} in "
          f"{time.perf_counter() - start:.1f} s; executed copies in {out}")
    return 1 if failed else 0


def bench_verify(notebooks: Sequence[str] = ()) -> dict[str, Any]:
    """Time ``labkit verify --backend sim`` over the course; print and return the numbers.

    The same course on a real cluster takes tens of minutes (15 s syncs, 300 s windows).
    """
    with tempfile.TemporaryDirectory(prefix="labkit-verify-") as tmp:
        start = time.perf_counter()
        results = verify(list(notebooks), backend="sim", out=tmp)
        total = time.perf_counter() - start
    print(summary(results))
    print(f"\nverify --backend sim: {len(results)} notebooks in {total:.1f} s "
          f"(target < 60 s on 2 cores; {os.cpu_count()} here)", file=sys.stdout)
    return {"total_seconds": total, "passed": all(r.passed for r in results),
            "notebooks": {r.notebook: round(r.seconds, 2) for r in results}}
