"""The attack family: every ``Attack`` subclass with a name in a module of this package.

``base`` holds the contract and the attacker's views; each other module holds members
(``kde_threshold``, ``loss``, ``lira``, ``rmia``, ``shadow``). Rows of a comparison name an
attack with its options and test-time augmentation: "lira_online/global/flip" (``row_key``,
``parse_row``).
"""
from __future__ import annotations

from ..discovery import members, named_subclasses
from .base import Attack, SignalView, TargetView

__all__ = ["ATTACKS", "Attack", "SignalView", "TargetView", "build", "canonical_row", "parse_row", "row_key"]


def discover() -> dict[str, type[Attack]]:
    """name -> class of every member now in the package (``ATTACKS``: as of import)."""
    return members(__name__, __path__, named_subclasses(Attack))


ATTACKS: dict[str, type[Attack]] = discover()


def build(name: str, **options) -> Attack:
    if name not in ATTACKS:
        raise KeyError(name)
    return ATTACKS[name](**options)


def row_key(name: str, options: dict, augmentations: int) -> str:
    """'lira_online/global/flip': how tables, figures and [calibrated] name a row."""
    parts = [name] + [str(v) for v in options.values()] + (["flip"] if augmentations == 2 else [])
    return "/".join(parts)


def canonical_row(key: str) -> tuple:
    """What a row key computes, however it is spelt: the attack, each of its options as the
    attack holds it (defaults filled in: "lira_online" is "lira_online/auto"; "0.30" is 0.3),
    and the augmentations. Two keys with the same canonical row name one attack."""
    name, options, augmentations, _ = parse_row(key)
    cls = ATTACKS[name]
    attack = cls(**options)
    return name, tuple((option, getattr(attack, option)) for option in cls.options), augmentations


def parse_row(key: str) -> tuple[str, dict, int, bool]:
    """(attack, options, augmentations, needs references) of a row key, the inverse of
    ``row_key``; ValueError naming what is wrong. Options are the attack class's ``options``,
    in order (LiRA: variance)."""
    parts = str(key).split("/")
    name, rest = parts[0], parts[1:]
    if name not in ATTACKS:
        raise ValueError(f"unknown attack {name!r} in {key!r} (known: {', '.join(ATTACKS)})")
    augmentations = 1
    if rest and rest[-1] == "flip":
        augmentations, rest = 2, rest[:-1]
    cls = ATTACKS[name]
    if cls.view_type is not TargetView:
        raise ValueError(f"{key!r}: attack {name!r} fits on the losses of known samples (an "
                         f"[attack] attack), not on a target's outputs and references")
    names = cls.options
    if len(rest) > len(names):
        raise ValueError(f"{key!r}: attack {name!r} takes "
                         + (f"the options {'/'.join(names)}" if names else "no options")
                         + f" (and /flip), got {'/'.join(rest)}")
    options = dict(zip(names, rest))
    try:
        cls(**options)
    except ValueError as e:
        raise ValueError(f"{key!r}: {e}") from None
    return name, options, augmentations, cls.needs_references
