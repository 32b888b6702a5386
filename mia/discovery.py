"""How a family finds its members: every module of the family's package except ``base`` (the
interface) and private ones (``_name``), imported in name order, each giving its members.

A family is a package (``mia.datasets``, ``mia.architectures``, ``mia.recipes``,
``mia.attacks``) whose ``__init__`` calls ``members(__name__, __path__, pick)``; ``pick`` says
what a module contributes. Adding a member is then adding one module: nothing else names it.
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import TypeVar

T = TypeVar("T")


def members(package: str, path: Iterable[str],
            pick: Callable[[ModuleType], Iterable[tuple[str, T]]]) -> dict[str, T]:
    """name -> member over the modules of ``package`` (its ``__path__``), sorted by name.
    Two members with one name are a programming error (ValueError naming both modules)."""
    found: dict[str, T] = {}
    where: dict[str, str] = {}
    for info in pkgutil.iter_modules(path):
        if info.name == "base" or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        for name, member in pick(module):
            if name in found:
                raise ValueError(f"two members of {package} are named {name!r}: in "
                                 f"{where[name]} and {module.__name__}")
            found[name], where[name] = member, module.__name__
    return dict(sorted(found.items()))


def named_subclasses(base: type) -> Callable[[ModuleType], list[tuple[str, type]]]:
    """A ``pick`` for class families: the module's own subclasses of ``base`` that set a
    ``name`` (a class that only inherits one is an intermediate, not a member)."""
    def pick(module: ModuleType) -> list[tuple[str, type]]:
        return [(obj.name, obj) for obj in vars(module).values()
                if isinstance(obj, type) and issubclass(obj, base) and "name" in vars(obj)
                and obj.__module__ == module.__name__]
    return pick
