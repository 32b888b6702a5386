"""Where the pipeline reads and writes by default."""
from __future__ import annotations

from ..locations import CACHE as DEFAULT_CACHE, REPO, RESULTS as DEFAULT_RESULTS

__all__ = ["DEFAULT_CACHE", "DEFAULT_RESULTS", "REPO"]
