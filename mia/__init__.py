"""Membership inference study: train a target, score every sample, attack, report.

Stages exchange arrays on disk so that any stage reruns alone: ``datasets`` ->
``architectures``/``recipes``/``training`` -> ``scores`` -> ``attacks`` and ``evaluation`` ->
``metrics`` -> ``plots`` -> ``report``; ``pipeline`` runs them in order for each experiment (a
TOML file in ``experiments/``), then ``study_results`` for each study that compares them. The
layers, and what imports what, are in the README ("Layout") and ``pyproject.toml``.
"""
import os

# PyTorch's OpenMP threads spin-wait by default; on a machine where another process
# keeps a core busy, that makes training 20-40x slower. Passive waiting costs little
# when the machine is idle. It must be set before torch is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
