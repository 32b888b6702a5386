"""Where the project's folders are by default: the checkout (``REPO``), its experiment files,
its results, and the cache (``$MIA_CACHE_DIR``, else ``.cache/`` in the checkout; read once, at
import). Every command takes other folders as options; only the defaults live here."""
from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXPERIMENTS = REPO / "experiments"
RESULTS = REPO / "results"
CACHE = Path(os.environ.get("MIA_CACHE_DIR", REPO / ".cache"))
