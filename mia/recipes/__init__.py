"""The training-recipe family: every ``Recipe`` subclass with a name in a module of this package
(``base`` holds the interface). Adding a recipe touches one file plus its test."""
from __future__ import annotations

from ..discovery import members, named_subclasses
from .base import Recipe

__all__ = ["RECIPES", "Recipe", "get"]


def discover() -> dict[str, type[Recipe]]:
    """name -> class of every member now in the package (``RECIPES``: as of import)."""
    return members(__name__, __path__, named_subclasses(Recipe))


RECIPES: dict[str, type[Recipe]] = discover()


def get(name: str) -> Recipe:
    return RECIPES[name]()
