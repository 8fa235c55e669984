"""Record the twin's golden Timelines (tests/sim/golden/) with their provenance.

Run from the repository root: ``.venv/bin/python scripts/record_golden_timelines.py``.
Only record again when a change of the twin's results is intended; say why in the commit.
"""

from __future__ import annotations

import datetime
import json
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy  # noqa: E402
import pandas  # noqa: E402

from tests.sim.golden_scenarios import SCENARIOS  # noqa: E402

OUT = ROOT / "tests" / "sim" / "golden"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, scenario in SCENARIOS.items():
        tl = scenario()
        tl.samples.to_csv(OUT / f"{name}.samples.csv.gz", index=False)
        tl.events.to_csv(OUT / f"{name}.events.csv.gz", index=False)
        print(f"{name}: {len(tl.samples)} samples, {len(tl.events)} events")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "labkit"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    provenance = {
        "recorded_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": head, "labkit_modified_since_commit": bool(dirty),
        "command": "python scripts/record_golden_timelines.py",
        "python": platform.python_version(), "platform": platform.platform(),
        "numpy": numpy.__version__, "pandas": pandas.__version__,
        "scenarios": sorted(SCENARIOS),
    }
    (OUT / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")


if __name__ == "__main__":
    main()
