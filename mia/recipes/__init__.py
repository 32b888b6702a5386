"""The training-recipe family: every ``Recipe`` subclass with a name in a module of this package
(``base`` holds the interface). Adding a recipe touches one file plus its test."""
from __future__ import annotations

import importlib
import pkgutil

from .base import Recipe

__all__ = ["RECIPES", "Recipe", "get"]


def _members() -> dict[str, type[Recipe]]:
    found: dict[str, type[Recipe]] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name == "base" or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for obj in vars(module).values():
            if (isinstance(obj, type) and issubclass(obj, Recipe) and "name" in vars(obj)
                    and obj.__module__ == module.__name__):
                found[obj.name] = obj
    return dict(sorted(found.items()))


RECIPES: dict[str, type[Recipe]] = _members()


def get(name: str) -> Recipe:
    return RECIPES[name]()
