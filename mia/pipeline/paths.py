"""Where the pipeline reads and writes by default."""
from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_RESULTS = REPO / "results"
DEFAULT_CACHE = Path(os.environ.get("MIA_CACHE_DIR", REPO / ".cache"))
