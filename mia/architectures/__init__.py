"""The architecture family: one module per member, found by name.

A member is a module of this package that defines ``ARCHITECTURE = Architecture(name, build)``
(``base.Architecture``); it is registered by being here. Adding one touches one file plus its
test: e.g. ``mia/architectures/mlp.py``.

Weights are saved and loaded here too: ``weights_bytes`` (a byte-stable ``torch.save`` of a
state dict) and ``load_weights`` (``weights_only=True``; a corrupt file is one line).
"""
from __future__ import annotations

import io
from pathlib import Path

import torch
from torch import nn

from ..discovery import members
from ..errors import UserError
from .base import Architecture

CIFAR_SHAPE = (3, 32, 32)


def discover() -> dict[str, Architecture]:
    """name -> ``ARCHITECTURE`` of every member module now in the package (``ARCHITECTURES``:
    as of import)."""
    return members(__name__, __path__,
                   lambda module: [(module.ARCHITECTURE.name, module.ARCHITECTURE)])


ARCHITECTURES: dict[str, Architecture] = discover()


def build(architecture: str, input_shape: tuple[int, int, int] = CIFAR_SHAPE,
          num_classes: int = 10, **options) -> nn.Module:
    """An initialised ``architecture`` for images of ``input_shape`` (C, H, W)."""
    if architecture not in ARCHITECTURES:
        raise UserError(f"unknown architecture {architecture!r} (known: {', '.join(ARCHITECTURES)})")
    return ARCHITECTURES[architecture].build(tuple(input_shape), num_classes, **options)


def weights_bytes(state_dict: dict) -> bytes:
    """``torch.save`` of a state dict, byte-stable: saved to a buffer, the archive's inner
    folder is always "archive" (saved to a file it is named after the temporary file)."""
    buf = io.BytesIO()
    # Contiguous (NCHW) tensors whatever layout trained them: a model file is layout-free.
    torch.save({k: v.contiguous() for k, v in state_dict.items()}, buf)
    return buf.getvalue()


def load_weights(architecture: str, path: Path, device: torch.device,
                 input_shape: tuple[int, int, int] = CIFAR_SHAPE, num_classes: int = 10,
                 **options) -> nn.Module:
    """The model saved in ``path``, in evaluation mode on ``device``; one line naming the file
    if it does not load into ``architecture`` built with ``options``."""
    model = build(architecture, input_shape, num_classes, **options)
    try:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as e:
        raise UserError(f"corrupt model file {path} ({type(e).__name__}); delete it or run with "
                        f"--retrain") from None
    return model.to(device).eval()
