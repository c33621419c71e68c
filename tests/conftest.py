import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if os.environ.get("PYTEST_XDIST_WORKER"):  # two workers on two cores: one OpenMP thread each, no oversubscription
    os.environ.setdefault("OMP_NUM_THREADS", "1")
