"""Studies: comparisons across experiments, as data (``experiments/studies/<name>.toml``).

A study names the experiments it compares by role (``undefended = "baseline"``): code and
slides speak of roles, the study file says which experiment plays each. It also names what
it makes: the table (and figure) of ``results/studies/<name>/`` (``mia.study_results``) and
the deck sections it feeds, in order (``mia.deck.sections``). The folder is a subfolder of
``experiments/`` so that a study is never mistaken for an experiment (``experiments/*.toml``).

Every problem is a ``UserError`` of one line naming the file, the key and the offending value.
A role names an experiment, or a seed sweep (``mia.experiment_files``): then it stands for
every member of the sweep, the seeds of one arm.

Only ``mia.attacks`` (the ``[table]`` rows' names), ``mia.experiment_files``, ``mia.io`` and
``mia.errors`` here: the loader runs without torch and without the experiment configs (it
checks that each experiment is declared, not what is in it).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .. import experiment_files
from ..attacks import parse_row
from ..errors import UserError
from ..io import read_toml
from ..locations import EXPERIMENTS

STUDIES_DIR = EXPERIMENTS / "studies"
# The deck's sections are the modules of this folder (mia.deck.sections, a higher layer: read
# as files, never imported).
SECTIONS_DIR = Path(__file__).resolve().parents[1] / "deck" / "sections"
KEYS = ("description", "experiments", "sections", "table", "figure", "comparisons", "frontier")
FRONTIER_KEYS = ("attack", "baseline", "matched")
COMPARISON_KEYS = ("name", "question", "a", "b")
TABLE_KEYS = ("attacks",)
ROLE = re.compile(r"[a-z][a-z0-9_]*")
FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class Comparison:
    """Arm ``b`` against arm ``a`` (roles of the study, each an experiment or a seed sweep):
    the difference b - a of each metric, with an interval over seeds and samples
    (``mia.evaluation.arms``). ``question``: what it asks, in the deck's words."""
    name: str
    question: str
    a: str
    b: str


@dataclass(frozen=True)
class Study:
    """A study file, validated. ``experiments``: (role, experiment) pairs in the file's order."""
    name: str
    path: Path
    description: str
    experiments: tuple[tuple[str, str], ...]
    sections: tuple[str, ...] = ()
    table_attacks: tuple[str, ...] = ()
    figure: str | None = None
    # role -> the experiments it stands for: its experiment, or every member of a seed sweep
    # (mia.experiment_files), in the sweep's seed order.
    members: tuple[tuple[str, tuple[str, ...]], ...] = ()
    comparisons: tuple[Comparison, ...] = ()
    # [frontier] (mia.frontier): the attack whose power at 0.1% FPR each setting (role) is
    # measured by, and the role the others are read against (the undefended target)
    frontier_attack: str | None = None
    frontier_baseline: str | None = None
    # role -> the role it is compared with instead of the baseline (its matched comparison:
    # early stopping against the same images held out without stopping)
    frontier_matched: tuple[tuple[str, str], ...] = ()

    def experiments_of(self, role: str) -> tuple[str, ...]:
        """The experiments ``role`` stands for (one, or a sweep's members)."""
        return dict(self.members).get(role) or (self.experiment(role),)

    @property
    def all_experiments(self) -> list[str]:
        """Every experiment the study reads, sweeps expanded, in role order."""
        return [name for role, _ in self.experiments for name in self.experiments_of(role)]

    @property
    def roles(self) -> dict[str, str]:
        """role -> experiment name."""
        return dict(self.experiments)

    def experiment(self, role: str) -> str:
        if role not in self.roles:
            raise UserError(f"study {self.name!r} ({self.path}) names no experiment for role "
                            f"{role!r} (roles: {', '.join(self.roles)})")
        return self.roles[role]


def known_sections(sections_dir: Path = SECTIONS_DIR) -> list[str]:
    """The deck's sections: one module each in ``sections_dir``."""
    return sorted(p.stem for p in sections_dir.glob("*.py") if not p.stem.startswith("_"))


def _strings(value, what: str, path: Path) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise UserError(f"{what} in {path} must be a list of names, got {value!r}")
    if len(set(value)) != len(value):
        twice = next(v for v in value if value.count(v) > 1)
        raise UserError(f"{what} in {path} names {twice!r} twice")
    return tuple(value)


def from_dict(raw: dict, path: Path, experiments_dir: Path,
              sections_dir: Path = SECTIONS_DIR) -> Study:
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise UserError(f"unknown key {unknown[0]!r} in {path} (known: {', '.join(KEYS)})")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise UserError(f"description in {path} must be a string, got {description!r}")
    roles = raw.get("experiments")
    if not isinstance(roles, dict) or not roles:
        raise UserError(f"{path} needs an [experiments] table naming each experiment by role "
                        f"(e.g. undefended = \"baseline\"), got {roles!r}")
    for role, name in roles.items():
        if not ROLE.fullmatch(role):
            raise UserError(f"role {role!r} in {path}: lower-case letters, digits and _")
        if not isinstance(name, str) or not FILE_NAME.fullmatch(name):
            raise UserError(f"[experiments] {role} in {path} must be an experiment's name, got {name!r}")
    declared, sweeps = experiment_files.declared(experiments_dir), experiment_files.sweeps(experiments_dir)
    members = []
    for role, name in roles.items():
        if name not in declared and name not in sweeps:
            raise UserError(f"[experiments] {role} = {name!r} in {path}: {experiments_dir} "
                            f"declares no such experiment or seed sweep")
        members.append((role, tuple(sweeps.get(name, [name]))))
    sections = _strings(raw.get("sections", []), "sections", path)
    known = known_sections(sections_dir)
    for s in sections:
        if s not in known:
            raise UserError(f"unknown section {s!r} in {path} (known: {', '.join(known)})")
    table = raw.get("table", {})
    if not isinstance(table, dict):
        raise UserError(f"[table] in {path} must be a table, got {table!r}")
    unknown = sorted(set(table) - set(TABLE_KEYS))
    if unknown:
        raise UserError(f"unknown key {unknown[0]!r} in [table] of {path} (known: {', '.join(TABLE_KEYS)})")
    attacks = _strings(table.get("attacks", []), "[table] attacks", path)
    for row in attacks:  # rows of calibrated.json: checked before any experiment runs
        try:
            parse_row(row)
        except ValueError as e:
            raise UserError(f"[table] attacks in {path}: {e}") from None
    figure = raw.get("figure")
    if figure is not None and (not isinstance(figure, str) or not FILE_NAME.fullmatch(figure)):
        raise UserError(f"figure in {path} must be a file name without suffix, got {figure!r}")
    if figure is not None and not attacks:
        raise UserError(f"figure {figure!r} in {path} plots the [table] attacks, but it names none")
    comparisons = _comparisons(raw.get("comparisons", []), path, dict(members))
    frontier_attack, frontier_baseline, frontier_matched = _frontier(raw.get("frontier"), path, roles)
    return Study(name=path.stem, path=path, description=description, comparisons=comparisons,
                 experiments=tuple(roles.items()), sections=sections, table_attacks=attacks,
                 figure=figure, members=tuple(members), frontier_attack=frontier_attack,
                 frontier_baseline=frontier_baseline, frontier_matched=frontier_matched)


def _frontier(raw, path: Path, roles: dict) -> tuple[str | None, str | None, tuple]:
    """[frontier]: ``attack`` (a row of calibrated.json), ``baseline`` (a role) and ``matched``
    (role -> the role it is compared with instead of the baseline)."""
    if raw is None:
        return None, None, ()
    if not isinstance(raw, dict):
        raise UserError(f"[frontier] in {path} must be a table, got {raw!r}")
    unknown = sorted(set(raw) - set(FRONTIER_KEYS))
    if unknown:
        raise UserError(f"unknown key {unknown[0]!r} in [frontier] of {path} (known: "
                        f"{', '.join(FRONTIER_KEYS)})")
    attack, baseline = raw.get("attack"), raw.get("baseline")
    try:
        parse_row(attack if isinstance(attack, str) else "")
    except ValueError as e:
        raise UserError(f"[frontier] attack in {path}: {e}") from None
    if baseline not in roles:
        raise UserError(f"[frontier] baseline in {path} must be a role of the study (roles: "
                        f"{', '.join(roles)}), got {baseline!r}")
    matched = raw.get("matched", {})
    if not isinstance(matched, dict):
        raise UserError(f"[frontier] matched in {path} must be a table of role = role, got {matched!r}")
    for role, other in matched.items():
        if role not in roles or other not in roles or role == other:
            raise UserError(f"[frontier] matched in {path}: {role} = {other!r} must pair two "
                            f"different roles of the study (roles: {', '.join(roles)})")
    return attack, baseline, tuple(matched.items())


def _comparisons(raw, path: Path, members: dict[str, tuple[str, ...]]) -> tuple[Comparison, ...]:
    """The [[comparisons]] tables, validated: each names two different roles of the study
    with as many seeds each (seed i of one arm is paired with seed i of the other)."""
    if not isinstance(raw, list) or not all(isinstance(c, dict) for c in raw):
        raise UserError(f"comparisons in {path} must be [[comparisons]] tables, got {raw!r}")
    out = []
    for i, c in enumerate(raw):
        where = f"[[comparisons]] number {i + 1} in {path}"
        unknown = sorted(set(c) - set(COMPARISON_KEYS))
        if unknown:
            raise UserError(f"unknown key {unknown[0]!r} in {where} (known: {', '.join(COMPARISON_KEYS)})")
        for key in COMPARISON_KEYS:
            if not isinstance(c.get(key), str) or not c[key]:
                raise UserError(f"{where} needs {key} (text), got {c.get(key)!r}")
        if not ROLE.fullmatch(c["name"]):
            raise UserError(f"{where}: name {c['name']!r}: lower-case letters, digits and _")
        for key in ("a", "b"):
            if c[key] not in members:
                raise UserError(f"{where}: {key} = {c[key]!r} is no role of the study (roles: "
                                f"{', '.join(members)})")
        if c["a"] == c["b"]:
            raise UserError(f"{where} compares role {c['a']!r} with itself")
        if len(members[c["a"]]) != len(members[c["b"]]):
            raise UserError(f"{where}: {c['a']} has {len(members[c['a']])} seeds and {c['b']} "
                            f"{len(members[c['b']])}: seed i is paired with seed i, so they "
                            f"need as many")
        if c["name"] in {o.name for o in out}:
            raise UserError(f"{where}: a second comparison named {c['name']!r}")
        out.append(Comparison(c["name"], c["question"], c["a"], c["b"]))
    return tuple(out)


def load(path: str | Path, experiments_dir: str | Path | None = None,
         sections_dir: Path = SECTIONS_DIR) -> Study:
    """Read and validate a study file; its experiments are files of ``experiments_dir``
    (default: the folder above the study's, ``experiments/`` for ``experiments/studies/``)."""
    path = Path(path)
    raw = read_toml(path, "study file")
    if not FILE_NAME.fullmatch(path.stem):
        raise UserError(f"study file name {path.name!r}: letters, digits, '.', '_' and '-' only")
    experiments_dir = Path(experiments_dir) if experiments_dir is not None else path.parent.parent
    return from_dict(raw, path, experiments_dir, sections_dir)


def available(directory: str | Path = STUDIES_DIR) -> list[str]:
    return sorted(p.stem for p in Path(directory).glob("*.toml"))


def load_named(name: str, directory: str | Path = STUDIES_DIR) -> Study:
    directory = Path(directory)
    names = available(directory)
    if name not in names:
        raise UserError(f"unknown study {name!r} (known in {directory}: {', '.join(names) or 'none'})")
    return load(directory / f"{name}.toml")
