"""Run experiments stage by stage: train -> scores -> bank -> calibrated -> attack -> plots ->
report.

Stage outputs that are expensive live in a run directory keyed by the hash of what
determines them (``.cache/runs/<experiment>-<training hash>/``): ``model.pt``,
``history.json``, ``scores.npz``, ``target.json``, ``timings.json``. A stage whose
outputs exist is reused, so changing only the attack settings reruns only the attack.
The results directory is assembled in a staging folder and swapped in at the end, so
``results/<experiment>/`` is always either the complete old or the complete new one.

Modules, in the order they depend on each other: ``paths`` (default folders), ``stages`` (each
stage's inputs and outputs), ``reuse`` (what may be reused instead of recomputed), ``results``
(the results folder and its manifest), ``experiment`` (one experiment), ``study_stage`` (the
studies that compare them), ``run`` (``invoke experiments``: every experiment, then their
studies).
"""
from ..training.jobs import training_hash
from .experiment import check_sizes, experiment_sizes, run_experiment
from .paths import DEFAULT_CACHE, DEFAULT_RESULTS, REPO
from .results import closing_summary, verdict_lines
from .run import check_writable, run
from .stages import load_scores

__all__ = ["DEFAULT_CACHE", "DEFAULT_RESULTS", "REPO", "check_sizes", "check_writable",
           "closing_summary", "experiment_sizes", "load_scores", "run", "run_experiment",
           "training_hash", "verdict_lines"]
