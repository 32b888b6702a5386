"""Which experiments a folder of experiment files declares, and under which names.

A file ``experiments/<stem>.toml`` declares one experiment, named ``<stem>``. A file with a
top-level ``seeds`` list (and no ``seed``) is a seed sweep: it declares one experiment per
seed, named ``<stem>-seed<k>``, each the file with ``seed = k``. Nothing else differs, so a
sweep member trains, hashes and caches exactly as a file of its own with that seed would.
The file's stem names the sweep: ``invoke experiments --only <stem>`` runs every seed, and a
study's role may name the stem (all its seeds, ``mia.studies``).

Only TOML here (no torch, no experiment configs): the study loader reads it too.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import UserError
from .io import read_toml

SEED_SUFFIX = "-seed"
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class Declared:
    """One experiment a file declares: its file, and the seed a sweep gives it (None: the
    file's own ``seed``)."""
    path: Path
    seed: int | None = None


def sweep_seeds(raw: dict, path: Path) -> tuple[int, ...] | None:
    """The ``seeds`` of a sweep file's table (None when the file is no sweep), validated:
    distinct integers in [0, 2**32 - 1], at least one, and no ``seed`` beside them."""
    if "seeds" not in raw:
        return None
    seeds = raw["seeds"]
    if not isinstance(seeds, list) or not seeds:
        raise UserError(f"seeds in {path} must be a non-empty list of integers, got {seeds!r}")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= MAX_SEED:
            raise UserError(f"seeds in {path}: each must be an integer between 0 and {MAX_SEED}, "
                            f"got {s!r}")
    if len(set(seeds)) != len(seeds):
        raise UserError(f"seeds in {path} repeats a seed: {seeds!r}")
    if "seed" in raw:
        raise UserError(f"{path} sets both seed and seeds: a sweep gives each member its seed")
    return tuple(seeds)


def declared(directory: Path) -> dict[str, Declared]:
    """name -> where it is declared, over ``directory/*.toml``, sorted by name. A sweep
    member whose name is also another file's stem is an error naming both."""
    found: dict[str, Declared] = {}
    for path in sorted(Path(directory).glob("*.toml")):
        seeds = sweep_seeds(read_toml(path, "experiment file"), path)
        names = ([(path.stem, None)] if seeds is None
                 else [(f"{path.stem}{SEED_SUFFIX}{s}", s) for s in seeds])
        for name, seed in names:
            if name in found:
                raise UserError(f"two experiments are named {name!r}: {found[name].path.name} and "
                                f"{path.name} (rename one file)")
            found[name] = Declared(path, seed)
    return dict(sorted(found.items()))


def sweeps(directory: Path) -> dict[str, list[str]]:
    """sweep stem -> its members' names, in the file's seed order."""
    out: dict[str, list[str]] = {}
    for name, where in declared(directory).items():
        if where.seed is not None:
            out.setdefault(where.path.stem, []).append(name)
    for stem, members in out.items():
        order = sweep_seeds(read_toml(Path(directory) / f"{stem}.toml", "experiment file"),
                            Path(directory) / f"{stem}.toml")
        members.sort(key=lambda n: order.index(int(n.rsplit(SEED_SUFFIX, 1)[1])))
    return out


def expand(names: list[str], directory: Path) -> list[str]:
    """Experiment names for ``names``, each an experiment or a sweep (all its members), in
    order and without repeats; an unknown name is a UserError listing the known ones."""
    known, groups = declared(directory), sweeps(directory)
    out: list[str] = []
    for name in names:
        if name in groups:
            members = groups[name]
        elif name in known:
            members = [name]
        else:
            listed = sorted(set(known) | set(groups))
            raise UserError(f"unknown experiment {name!r} (known: {', '.join(listed) or 'none'})")
        out += [m for m in members if m not in out]
    return out
