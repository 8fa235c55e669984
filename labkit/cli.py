"""The ``labkit`` command: parse arguments, call one function, return its exit status.

Each subcommand lives in the module that does the work; this file only maps words to calls
(as papermill's cli.py does), importing lazily so ``labkit --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module
from typing import Callable, Sequence

from . import __version__
from . import numbers as num
from .errors import LabkitError

_PORT = num.arg(num.port, int)
_ANY_PORT = num.arg(num.port, int, allow_zero=True)
_DURATION = num.arg(num.duration)
_USERS = num.arg(num.users)


def _call(target: str) -> Callable[[argparse.Namespace], int]:
    module, func = target.split(":")

    def run(args: argparse.Namespace) -> int:
        return int(getattr(import_module(module), func)(args) or 0)

    return run


def _lab(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=_PORT, default=8888, help="port on 127.0.0.1 (default 8888)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.add_argument("--instructor", action="store_true",
                   help="open notebooks/ itself, solutions included (default: the learner's "
                        "copies in learner/, solutions removed)")


def _doctor(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default=None,
                   choices=["hpa", "knative", "kserve", "keda", "all"],
                   help="add-ons the real cluster would need (default hpa); giving it makes "
                        "the real cluster the track to check, as --cluster does")
    p.add_argument("--cluster", action="store_true",
                   help="exit 1 unless the real kind cluster can run here (default: exit 1 "
                        "only if the lab on the twin cannot; the cluster lines are optional)")
    p.add_argument("--workshop", action="store_true",
                   help="one-screen pre-flight for instructors (plus JSON with --json)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _up(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default="hpa", choices=["hpa", "knative", "kserve", "keda", "all"],
                   help="which add-ons to install (default hpa)")
    p.add_argument("--dry-run", action="store_true",
                   help="print every step (commands, manifest URLs, waits) without running them")
    p.add_argument("--keep-on-failure", action="store_true",
                   help="if a step fails, keep the half-made cluster for diagnosis "
                        "(default: delete it so a retry starts clean)")


def _validate(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", default=["manifests"],
                   help="files or directories (default manifests/)")


def _run(p: argparse.ArgumentParser) -> None:
    p.add_argument("variant", help="hpa-v1, hpa-v2, knative, kserve, keda, queue, queue-jobs, "
                   "or a manifest path")
    p.add_argument("--profile", default="spike", help="load shape (default spike; burst for "
                   "jobs; queue variants get producers posting jobs)")
    p.add_argument("--users", type=_USERS, default=None, help="peak users of the profile")
    p.add_argument("--duration", type=_DURATION, default=600,
                   help="simulated seconds (default 600, at most 7 days)")
    p.add_argument("--trace", default=None, metavar="CSV",
                   help="for --profile trace: a CSV with columns time,users or time,rps")
    p.add_argument("--backend", default="sim", choices=["auto", "sim", "kind"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--speed", type=float, default=None,
                   help="twin pacing: 1 = real time (default: as fast as possible)")
    p.add_argument("--out", default=None, help="write PREFIX_samples.csv and PREFIX_events.csv")


def _app_serve(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=_ANY_PORT, default=8080, help="0 picks a free port")


def _calibrate(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default=None, help="parameters file (default: the twin's own)")
    p.add_argument("--requests", type=int, default=200, help="requests per measurement")


def _verify(p: argparse.ArgumentParser) -> None:
    p.add_argument("notebooks", nargs="*", help="notebooks (default: all in notebooks/)")
    p.add_argument("--backend", default="sim", choices=["sim", "kind"])
    p.add_argument("--out", default="notebooks/_executed", help="executed copies go here")


def _student(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="student", help="directory for the student copies")
    p.add_argument("--check", action="store_true",
                   help="only check that committed student copies are current")


def _bench(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", nargs="*", default=["sim"],
                   help="sim (with the scaling table), scaling, sweep, verify, app (default sim)")


#: word -> (help, argument builder, "module:function" taking the parsed args)
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], str]] = {
    "lab": ("start JupyterLab on your copies of the notebooks (--instructor: the originals)",
            _lab, "labkit.commands:lab"),
    "doctor": ("check Docker, kind, kubectl, resources and ports", _doctor,
               "labkit.commands:doctor"),
    "up": ("create the kind cluster and install the add-ons", _up, "labkit.commands:up"),
    "down": ("delete the kind cluster and everything labkit started", lambda p: None,
             "labkit.commands:down"),
    "validate": ("validate manifests and lint the common traps", _validate,
                 "labkit.commands:validate"),
    "run": ("run a variant under a load profile and print its scorecard", _run,
            "labkit.commands:run"),
    "app": ("the inference app: `labkit app serve`", None, ""),
    "calibrate": ("measure the app and write the twin's parameters", _calibrate,
                  "labkit.commands:calibrate"),
    "verify": ("execute the notebooks headless and summarize their checks", _verify,
               "labkit.commands:verify"),
    "student": ("write student copies of the notebooks without solutions", _student,
                "labkit.commands:student"),
    "bench": ("benchmarks: the twin's speed, headless verification time", _bench,
              "labkit.commands:bench"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labkit", description="Autoscaling Lab Kit: HPA, Knative/KServe and KEDA on kind "
        "or on the embedded twin.")
    parser.add_argument("--version", action="version", version=f"labkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for word, (help_, build, target) in COMMANDS.items():
        p = sub.add_parser(word, help=help_, description=help_)
        if word == "app":
            app_sub = p.add_subparsers(dest="app_command", metavar="ACTION", required=True)
            serve = app_sub.add_parser("serve", help="serve the app on 127.0.0.1")
            _app_serve(serve)
            serve.set_defaults(func=_call("labkit.commands:app_serve"))
            continue
        if build is not None:
            build(p)
        p.set_defaults(func=_call(target))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except LabkitError as e:
        print(f"labkit {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"labkit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
