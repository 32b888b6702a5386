"""Membership inference study: train a target, score every sample, attack, report.

One module per stage, exchanging arrays on disk so that any stage reruns alone:
``data`` -> ``models``/``train`` -> ``scores`` -> ``attacks`` -> ``metrics`` -> ``plots`` -> ``report``;
``pipeline`` runs them in order for one experiment (a TOML file in ``experiments/``).
"""
import os

# PyTorch's OpenMP threads spin-wait by default; on a machine where another process
# keeps a core busy, that makes training 20-40x slower. Passive waiting costs little
# when the machine is idle. It must be set before torch is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
