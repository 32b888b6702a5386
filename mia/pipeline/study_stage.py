"""The study stage, after the experiments: each study that compares an experiment of the run
gets its folder, ``results/studies/<name>/`` (``mia.study_results``), made from the results
the experiments have just written."""
from __future__ import annotations

from pathlib import Path

from .. import experiment_files, studies as studies_mod, study_results
from ..io import read_toml
from ..studies import Study


def studies_of(names: list[str], experiments_dir: Path, studies_dir: Path) -> list[Study]:
    """Every study in ``studies_dir`` that compares any of ``names``, validated against
    ``experiments_dir`` (a UserError before any work for a broken study file). A study none
    of whose experiments ``experiments_dir`` declares is about another folder of experiments
    (the committed studies beside the tests' own experiments): it is left out, unchecked."""
    known = set(experiment_files.declared(experiments_dir)) | set(experiment_files.sweeps(experiments_dir))
    found = []
    for s in studies_mod.available(studies_dir):
        path = studies_dir / f"{s}.toml"
        roles = read_toml(path, "study file").get("experiments")
        if isinstance(roles, dict) and roles and not known & set(map(str, roles.values())):
            continue
        found.append(studies_mod.load(path, experiments_dir))
    return [s for s in found if any(name in names for name in s.all_experiments)]


def write_studies(found: list[Study], results_root: Path, log=print) -> list[Path]:
    """Each study's folder, from its experiments' results in ``results_root``; a study one of
    whose experiments has no results there yet is named and left unwritten (not an error: an
    ``--only`` run may come before the others)."""
    written = []
    for study in found:
        missing = [f"{role} = {name!r}" for role, _ in study.experiments
                   for name in study.experiments_of(role)
                   if not (results_root / name / "metrics.json").is_file()]
        if missing:
            log(f"study {study.name}: not written, no results in {results_root} for "
                f"{', '.join(missing)} (run `invoke experiments` for them)")
            continue
        written.append(study_results.write(study, results_root, log))
    return written

