"""`pytest --nbval-lax notebooks/`: run the course notebooks only, with labkit importable.

nbval starts an ordinary kernel that inherits this environment: PYTHONPATH lets it import
labkit from this checkout, and LABKIT_LIVE=0 tells labkit.live there is no widget front end.
Executed copies (`labkit verify`) and student copies are not collected.
"""

import os
from pathlib import Path

REPO = str(Path(__file__).resolve().parents[1])
os.environ["PYTHONPATH"] = os.pathsep.join(
    [REPO] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
os.environ.setdefault("LABKIT_LIVE", "0")

collect_ignore_glob = ["_executed/*", "student/*", ".ipynb_checkpoints/*"]
