"""What each ``labkit`` subcommand does: one call into the module that owns the work."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from .errors import LabkitError, ToolMissingError

REPO = Path(__file__).resolve().parents[1]


def lab(args: argparse.Namespace) -> int:
    """Start JupyterLab bound to 127.0.0.1 on the learner's copies (or, with --instructor,
    on notebooks/ itself); what `jupyter lab` does by hand."""
    from .checks import LEARNER_ENV
    from .student import LEARNER_DIR, learner_copies

    jupyter = shutil.which("jupyter", path=str(Path(sys.executable).parent)) or \
        shutil.which("jupyter")
    if jupyter is None:
        raise ToolMissingError("jupyter is not installed in this environment; run `make lab` "
                               "(or `pip install -e .`) first")
    from ._procs import require_free_port
    require_free_port(args.port, "127.0.0.1", "JupyterLab")
    env = dict(os.environ)
    start = []
    if args.instructor:
        # the repository as root, so jupytext pairs notebooks/X.ipynb with its source
        # scripts/course/X.py (pyproject.toml, [tool.jupytext]): a save updates both
        root = REPO
        start = ["--ServerApp.default_url=/lab/tree/notebooks"]
        print(f"labkit: instructor copies in {root / 'notebooks'} (solutions included; a save "
              "there also updates its source in scripts/course/)")
    else:
        root = LEARNER_DIR
        written, kept = learner_copies(root)
        print(f"labkit: your notebooks are in {root}/ (solutions removed). "
              f"{len(written)} new, {len(kept)} kept as you left them; delete one to get a "
              "fresh copy. Instructors: `labkit lab --instructor` opens notebooks/ itself.")
        env[LEARNER_ENV] = "1"
    settings = Path(__file__).resolve().parent / "data" / "lab-settings"
    cmd = [jupyter, "lab", f"--notebook-dir={root}", "--ip=127.0.0.1",
           f"--port={args.port}", "--ServerApp.port_retries=0",
           f"--LabApp.app_settings_dir={settings}", *start]
    if args.no_browser:
        cmd.append("--no-browser")
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    print(f"labkit: starting JupyterLab on 127.0.0.1:{args.port}; open the URL with "
          f"`?token=` that JupyterLab prints below (Ctrl+C to stop). The notebooks use the "
          "twin when no kind cluster is available.", flush=True)
    # Become JupyterLab (same pid): SIGTERM or SIGHUP to `labkit lab` then reaches JupyterLab
    # itself, which shuts its kernels down; a child would be orphaned and keep serving.
    sys.stderr.flush()
    os.execve(cmd[0], cmd, env)
    return 0  # not reached


def doctor(args: argparse.Namespace) -> int:
    from .doctor import run_doctor
    return run_doctor(args.profile, track="cluster" if args.cluster else None,
                      workshop=args.workshop, as_json=args.json)


def up(args: argparse.Namespace) -> int:
    from .backends.kind.cluster import install_plan, up as cluster_up
    if args.dry_run:   # what a fresh `up` would do; needs no Docker or kind
        print(install_plan(args.profile).describe())
        return 0
    cluster_up(args.profile, keep_on_failure=getattr(args, "keep_on_failure", False))
    return 0


def down(args: argparse.Namespace) -> int:
    from .backends.kind.cluster import down as cluster_down
    cluster_down()
    return 0


def validate(args: argparse.Namespace) -> int:
    from .validate import run_validate
    return run_validate(list(args.paths))


def run(args: argparse.Namespace) -> int:
    from .lab import run as lab_run
    from .scorecard import scorecard
    kw = {} if args.users is None else {"users": args.users}
    if getattr(args, "trace", None):
        kw["trace_path"] = args.trace
    if args.out:
        _check_out(args.out)  # before the run, not after it
    tl = lab_run(args.variant, args.profile, args.duration, backend=args.backend,
                 seed=args.seed, speed=args.speed, **kw)
    print(tl)
    for key, value in scorecard(tl).items():
        print(f"  {key:>28}: {value}")
    if args.out:
        try:
            paths = tl.to_csv(args.out)
        except OSError as e:
            raise LabkitError(f"--out {args.out}: cannot write the CSV files ({e.strerror or e})") from None
        for path in paths:
            print(f"wrote {path}")
    return 0


def _check_out(prefix: str) -> None:
    """``--out PREFIX`` writes PREFIX_samples.csv next to PREFIX: its directory must be writable."""
    parent = Path(prefix).parent
    if not parent.is_dir():
        raise LabkitError(f"--out {prefix}: directory {parent} does not exist; create it first "
                          "or give another prefix")
    if not os.access(parent, os.W_OK):
        raise LabkitError(f"--out {prefix}: directory {parent} is not writable")


def app_serve(args: argparse.Namespace) -> int:
    from .appserver import serve
    return serve(host=args.host, port=args.port)


def calibrate(args: argparse.Namespace) -> int:
    from .calibrate import run_calibrate
    return run_calibrate(out=args.out, requests=args.requests)


def verify(args: argparse.Namespace) -> int:
    from .verify import run_verify
    return run_verify(args.notebooks, backend=args.backend, out=args.out)


def student(args: argparse.Namespace) -> int:
    from .student import run_student
    return run_student(out=args.out, check=args.check)


def bench(args: argparse.Namespace) -> int:
    from .bench import run_bench
    return run_bench(args.what)
