"""The dataset family: one module per member (``base`` holds the interface), found by name.

Where a dataset comes from, in order:
1. ``data_dir`` (``--data-dir``) or the ``MIA_DATA_DIR`` environment variable: an ``.npz``
   file (``base.load_npz``); a folder holding ``<SPEC.npz_name>`` (e.g. ``cifar10.npz``); or
   a torchvision-layout folder (e.g. holding ``cifar-10-batches-py/``, or being it). Another
   dataset's copy (``cifar10.npz`` given, MNIST wanted) stands for its folder.
2. Otherwise torchvision downloads it into ``.cache/data`` (needs internet).

Adding a dataset touches one file plus its test: a module here with ``SPEC``,
``load_torchvision`` and ``torchvision_root`` (``base``).
"""
from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

from ..discovery import members
from ..errors import UserError
from ..locations import CACHE
from .base import Dataset, DatasetSpec, load_npz

DEFAULT_CACHE = CACHE / "data"
ENV_VAR = "MIA_DATA_DIR"


def discover() -> dict[str, ModuleType]:
    """``SPEC.name`` -> member module now in the package (``MEMBERS``: as of import)."""
    return members(__name__, __path__, lambda module: [(module.SPEC.name, module)])


MEMBERS: dict[str, ModuleType] = discover()
DATASETS: dict[str, DatasetSpec] = {name: m.SPEC for name, m in MEMBERS.items()}
CIFAR10 = DATASETS["cifar10"]
# The local copies' file names of the other datasets: a run of several datasets given one
# dataset's file (MIA_DATA_DIR=../shared/data/cifar10.npz) finds the others beside it.
OTHER_NPZ_NAMES = {name: {s.npz_name for other, s in DATASETS.items() if other != name}
                   for name in DATASETS}


def load(name: str, data_dir: str | os.PathLike | None = None) -> Dataset:
    """Load dataset ``name`` from ``data_dir``, ``$MIA_DATA_DIR``, or a torchvision download."""
    if name not in MEMBERS:
        raise UserError(f"unknown dataset {name!r} (known: {', '.join(MEMBERS)})")
    member, spec = MEMBERS[name], DATASETS[name]
    given = data_dir or os.environ.get(ENV_VAR)
    if given:
        path = Path(given).expanduser()
        if path.is_file() and path.name in OTHER_NPZ_NAMES[name]:
            path = path.parent  # another dataset's copy: this one's is looked for beside it
        if path.is_file():
            return load_npz(path, spec)
        if path.is_dir():
            if (path / spec.npz_name).is_file():
                return load_npz(path / spec.npz_name, spec)
            root = member.torchvision_root(path)
            if root is not None:
                return member.load_torchvision(root, download=False)
        raise UserError(
            f"no {spec.title} at {path} (from --data-dir or ${ENV_VAR}): expected an .npz file, a "
            f"folder holding {spec.npz_name}, or a torchvision folder")
    root = DEFAULT_CACHE
    if member.torchvision_root(root) is not None:
        return member.load_torchvision(root, download=False)
    try:
        return member.load_torchvision(root, download=True)
    except UserError:
        raise
    except Exception as e:
        raise UserError(
            f"{spec.title} is not in {root} and could not be downloaded ({type(e).__name__}); "
            f"point --data-dir or ${ENV_VAR} at a local copy (.npz or torchvision folder)") from None
