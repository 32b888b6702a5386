"""The stages of one experiment, each reading and writing named files in a folder: train
(``model.pt``, ``history.json``), scores (``scores.npz``, ``target.json``), bank (the reference
models) and the calibrated evaluation (cached under a hash of its inputs and settings)."""
from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path

import numpy as np
import torch

from .. import (datasets as data_mod, locations, membership as membership_mod, schemas, scores as scores_mod)
from ..architectures import ARCHITECTURES, load_weights, weights_bytes
from ..attacks import ATTACKS, parse_row, row_key
from ..membership import Membership
from ..config import ExperimentConfig
from ..evaluation import calibrated as calibrated_mod, disjoint
from ..io import (FileFailed, code_version, read_checked, read_json, record_checksum, sha256_file,
                  sha256_json, unchanged_since_written, write_bytes, write_json, write_npz)
from ..errors import UserError
from ..manifest import check_recorded
from ..parallel import release_freed_memory
from ..recipes import get as recipe_of
from ..training import bank as bank_mod, bank_training, early_stopping, engine as train_mod, private

@contextlib.contextmanager
def timed_stage(timings: dict, stage: str):
    t0 = time.perf_counter()
    yield
    timings[stage] = {"seconds": round(time.perf_counter() - t0, 3), "reused": False}


SNAPSHOT = "snapshot.json"  # in a run directory: the snapshot its training started from


def resume_from_snapshot(config: ExperimentConfig, run_dir: Path, snapshots: Path, log) -> None:
    """Start this run from the longest snapshot of its trajectory that it would pass through:
    the checkpoint that a run of the same recipe, seed and data left at its last epoch
    (``<cache>/trajectories/<hash>/epoch-0020.pt``). Runs of 20, 50 and 100 epochs thus train
    100 epochs in all, in whatever order they come. A snapshot that does not load, or whose
    bytes changed since it was written (its sha256 recorded then), is removed.
    ``SNAPSHOT`` in ``run_dir`` records which epoch it started from and how many attempts the
    shorter run took, so that the manifest counts only this run's attempts."""
    if (run_dir / train_mod.CHECKPOINT).exists():
        return  # this run's own checkpoint is further along, or as far
    (run_dir / SNAPSHOT).unlink(missing_ok=True)  # describes a checkpoint that is gone
    usable = sorted((int(p.stem.split("-")[1]), p) for p in snapshots.glob("epoch-*.pt")
                    if p.stem.split("-")[1].isdigit())
    for epoch, path in reversed([(e, p) for e, p in usable if e <= config.train.epochs]):
        if not unchanged_since_written(snapshots, path.name, log):  # it warns
            path.unlink(missing_ok=True)
            continue
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if int(state["epoch"]) != epoch:
                raise ValueError(f"holds epoch {state['epoch']}")
        except Exception as e:  # noqa: BLE001 - any unreadable snapshot is dropped, not used
            log(f"warning: unreadable snapshot {path} ({type(e).__name__}); removed it")
            path.unlink(missing_ok=True)
            continue
        write_bytes(run_dir / train_mod.CHECKPOINT, path.read_bytes())
        write_json(run_dir / SNAPSHOT, {"epoch": epoch, "path": str(path),
                                        "attempts": int(state.get("attempts", 1))})
        log(f"[{config.name}] train: starting from epoch {epoch}, a snapshot of the same run "
            f"({path})")
        return


def train_stage(config: ExperimentConfig, dataset: data_mod.Dataset, run_dir: Path,
                device: torch.device, progress: bool, log=print,
                held_out: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """Writes model.pt and history.json into ``run_dir`` (resuming from a checkpoint there).
    ``held_out``: early stopping's images (``[train] early_stopping_patience``): model.pt is
    then the best epoch's weights, and history.json records each epoch's held-out accuracy."""
    spec = dataset.spec
    x_tr, x_te = (train_mod.to_tensor(x, device, spec) for x in (dataset.x_train, dataset.x_test))
    y_tr, y_te = (torch.from_numpy(y).to(device) for y in (dataset.y_train, dataset.y_test))
    # a private recipe (DP-SGD) clips and noises each sample's gradient: its own loop
    trainer = (private.train if recipe_of(config.train.recipe).per_sample_gradients
               else train_mod.train)
    train_log = lambda line: log(f"[{config.name}] train: {line}")  # noqa: E731
    if held_out is None:
        model, history = trainer(config.train, config.seed, x_tr, y_tr, x_te, y_te, run_dir,
                                 progress=progress, log=train_log, num_classes=spec.num_classes)
    else:
        stopper = early_stopping.TargetStopper(
            run_dir, config.train, train_mod.to_tensor(held_out[0], device, spec),
            torch.from_numpy(held_out[1]).to(device), spec.input_shape, spec.num_classes)
        if not stopper.stopped:
            try:
                trainer(config.train, config.seed, x_tr, y_tr, x_te, y_te, run_dir,
                        progress=progress, log=train_log, num_classes=spec.num_classes,
                        on_epoch_end=stopper)
            except early_stopping.StopEarly:
                pass
        state = train_mod.load_checkpoint(run_dir / train_mod.CHECKPOINT)
        record = stopper.finish(int(state["epoch"]))
        log(f"[{config.name}] train: stopped after epoch {record['stopped_at']}; kept epoch "
            f"{record['best_epoch']} (held-out accuracy {record['accuracies'][record['best_epoch']]:.3f})")
        model = load_model(config, run_dir / early_stopping.BEST, device, spec)
        history = early_stopping.annotate(list(state["history"]), record)
    write_json(run_dir / "history.json", history)
    write_bytes(run_dir / "model.pt", weights_bytes(model.state_dict()))
    for name in ("history.json", "model.pt"):
        record_checksum(run_dir, name, log)


def engine_settings(config: ExperimentConfig, device: torch.device) -> dict:
    """How the training stage ran, for the timings in the manifest."""
    if recipe_of(config.train.recipe).per_sample_gradients:
        return {"engine": "opacus", "threads": torch.get_num_threads()}
    if device.type == "cuda":
        return {"engine": "cuda_graph"}
    return {"engine": "cpu_sharded", "cpu_shards": config.train.cpu_shards,
            "cpu_memory_format": config.train.cpu_memory_format,
            "cpu_workers": train_mod.cpu_workers().n}


def load_model(config: ExperimentConfig, path: Path, device: torch.device,
               spec: data_mod.DatasetSpec) -> torch.nn.Module:
    """The target saved in ``path``: the experiment's architecture for ``spec``'s images."""
    return load_weights(config.train.architecture, path, device, spec.input_shape,
                        spec.num_classes, **config.train.model_options())


def computed_scores(config: ExperimentConfig) -> list[str]:
    """The scores the scores stage computes: the cross-entropy (target.json's losses read it),
    then the experiment's [attack] scores."""
    return list(dict.fromkeys(("cross_entropy", *config.attack.scores)))


def scores_stage(config: ExperimentConfig, dataset: data_mod.Dataset, run_dir: Path,
                 device: torch.device, log=print) -> None:
    """Per-sample scores of the experiment's [attack] scores (and the cross-entropy, which
    target.json's losses read), and whether the target classifies each sample correctly
    (``correct``: the gap attack's signal): training set first, then test set. Only those: a
    score registered later must not change what an earlier experiment's rerun writes."""
    spec = dataset.spec
    model = load_model(config, run_dir / "model.pt", device, spec)
    x = torch.cat([train_mod.to_tensor(dataset.x_train, device, spec),
                   train_mod.to_tensor(dataset.x_test, device, spec)])
    labels = np.concatenate([dataset.y_train, dataset.y_test])
    logits = train_mod.evaluation_logits(model, x)
    y = torch.from_numpy(labels).to(device)
    arrays = scores_mod.compute(computed_scores(config), logits, y)
    n_train = len(dataset.y_train)
    is_member = np.arange(len(labels)) < n_train
    correct = (logits.argmax(1) == y).cpu().numpy()
    ce = arrays["cross_entropy"]
    target = {
        "train_accuracy": float(correct[:n_train].mean()), "test_accuracy": float(correct[n_train:].mean()),
        "train_loss": float(ce[:n_train].mean()), "test_loss": float(ce[n_train:].mean()),
        "n_train": int(n_train), "n_test": int(len(labels) - n_train),
        "scores_version": scores_mod.VERSION, "logits": train_mod.LOGITS,
    }
    write_npz(run_dir / "scores.npz", **arrays, is_member=is_member, label=labels.astype(np.int64),
              correct=correct)
    write_json(run_dir / "target.json", target)
    for name in ("scores.npz", "target.json"):
        record_checksum(run_dir, name, log)


def npz_names(path: Path) -> set[str]:
    """The array names in an .npz, without reading the arrays (empty if the file is missing)."""
    if not path.exists():
        return set()
    with np.load(path, allow_pickle=False) as f:
        return set(f.files)


def load_scores(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def bank_stage(config: ExperimentConfig, dataset: data_mod.Dataset, bank_dir: Path,
               committed: Path | None, device: torch.device, progress: bool, log, timings: dict,
               snapshots: Path | None = None, executor=None) -> None:
    """Train (or reuse) the reference bank, first taking in the ``committed`` one (results/)
    when it matches (``None``: never, as with --retrain); its wall time is the sum over the
    models' training, whichever run trained them (from ``snapshots``, the bank trajectory's
    folder: only the epochs after a model's snapshot). ``executor``: where its models train
    (``jobs.Executor``; default this machine)."""
    if committed is not None:
        bank_mod.seed_from_results(config, dataset, committed, bank_dir, log)
    info = bank_training.train_bank(config, dataset, bank_dir, device, progress, log,
                                    executor=executor, snapshots=snapshots)
    trained = info.pop("trained_this_run")
    timings["bank"] = {"seconds": round(sum(info["train_seconds"].values()), 3),
                       "reused": trained == 0, "models": config.bank.models,
                       "folds": config.bank.folds, "keeps": info["keeps"],
                       "models_trained_this_run": trained, "device": info["device"],
                       **({"trained_from_epoch": info["trained_from_epoch"]}
                          if info.get("trained_from_epoch") else {})}
    if trained == 0:
        log(f"[{config.name}] bank: reusing {config.bank.models} models in {bank_dir}")


# The code that computes calibrated.json from the weights, whatever the experiment: a change
# to any of these files changes ``calibrated_key``, so committed calibrated results are reused
# only by the code that made them. ``calibrated_code`` adds the experiment's own members.
CALIBRATED_CODE = ("mia/evaluation/__init__.py", "mia/evaluation/calibrated.py",
                   "mia/evaluation/paired.py", "mia/evaluation/power.py",
                   "mia/evaluation/roc.py", "mia/metrics.py", "mia/keep.py", "mia/training/bank.py",
                   "mia/training/engine.py", "mia/attacks/__init__.py", "mia/attacks/base.py",
                   "mia/datasets/__init__.py", "mia/datasets/base.py",
                   "mia/architectures/__init__.py", "mia/architectures/base.py")
_SIBLING_IMPORT = re.compile(r"^from \.(\w+) import", re.MULTILINE)


def _module_file(module: str) -> str:
    """'mia.attacks.lira' -> 'mia/attacks/lira.py'."""
    return module.replace(".", "/") + ".py"


def calibrated_code(config: ExperimentConfig) -> tuple[str, ...]:
    """``CALIBRATED_CODE`` and the family members this experiment's calibrated results run:
    the module of each row's attack (and the sibling modules it imports), of its dataset and
    of its architecture. A new member of a family, or an edit to one it does not use, leaves
    the key, and so the committed results, as they are."""
    rows, power_rows = calibrated_mod.configured_rows(config.calibrated, config.bank.population)
    modules = {ATTACKS[name].__module__ for name, *_ in rows + power_rows}
    modules |= {data_mod.MEMBERS[config.data.dataset].__name__,
                ARCHITECTURES[config.train.architecture].build.__module__}
    if config.bank.population == "attacker":
        modules.add(disjoint.__name__)
    files = set()
    for module in sorted(modules):
        files.add(_module_file(module))
        package = module.rsplit(".", 1)[0]
        source = (locations.REPO / _module_file(module)).read_text()
        files |= {_module_file(f"{package}.{sibling}") for sibling in _SIBLING_IMPORT.findall(source)}
    return CALIBRATED_CODE + tuple(sorted(files - set(CALIBRATED_CODE)))


def experiment_rows(config: ExperimentConfig, spec) -> tuple[tuple, tuple]:
    """(rows, power rows) that the calibrated stage runs: ``calibrated.configured_rows``, less
    the default rows that need more test-time views than the dataset declares (MNIST has no
    flip: its defaults are the plain rows). A row the experiment names is kept, and
    ``experiment.check_augmentations`` refuses it with one line. The CIFAR-10 defaults, and
    so the committed keys, are unchanged."""
    rows, power_rows = calibrated_mod.configured_rows(config.calibrated, config.bank.population)
    views = 1 + len(spec.test_time_augmentations)
    if not config.calibrated.attacks:
        rows = tuple(r for r in rows if r[2] <= views)
    if not config.calibrated.power_attacks:
        power_rows = tuple(r for r in power_rows if r[2] <= views)
    return rows, power_rows


def calibrated_key(config: ExperimentConfig, dataset: data_mod.Dataset, run_dir: Path,
                   bank_dir: Path, membership: Membership | None = None) -> str:
    """What determines calibrated.json: the target's weights, the bank, the seed, the
    references used, ``calibrated.settings()``, the code that computes it, and the canaries
    and held-out images left out of the evaluation."""
    canaries = membership.canaries if membership is not None else None
    holdout = membership.holdout if membership is not None else ()
    rows, power_rows = experiment_rows(config, dataset.spec)
    return sha256_json({"target": sha256_file(run_dir / "model.pt"), "logits": train_mod.LOGITS,
                        "bank": read_json(bank_dir / "bank.json").get("bank_hash"),
                        "keep": sha256_file(bank_dir / "keep.npz"), "seed": config.seed,
                        "n_train": len(dataset.y_train),
                        "references": config.calibrated.references or config.bank.models,
                        "settings": calibrated_mod.settings(
                            rows, power_rows, config.bank.folds,
                            config.calibrated.leave_one_out_references),
                        "code": code_version(calibrated_code(config)),
                        # a shadow bank's evaluation (disjoint.evaluate_disjoint); absent for
                        # the others, whose keys stay as they were
                        **({"population": "attacker"} if config.bank.population == "attacker"
                           else {}),
                        # the samples left out (absent without canaries: the keys stay)
                        **({"canaries": sha256_json(canaries.index.tolist())}
                           if canaries is not None else {}),
                        **({"holdout": sha256_json(holdout.tolist())} if len(holdout) else {})})


def adopt_committed_calibrated(committed: Path, key: str, cached: Path, log) -> None:
    """A fresh clone: take ``committed``'s calibrated.json into the cache when its manifest
    records the same ``calibrated_key`` and the file is the one it records (sha256)."""
    try:
        manifest = read_json(committed / "manifest.json")
    except (OSError, ValueError):
        return
    if not isinstance(manifest, dict) or manifest.get("calibrated_key") != key:
        return
    check_recorded(committed, ("calibrated.json",), "restore it from git or run with --retrain")
    result = read_checked(committed / "calibrated.json", schemas.CALIBRATED,
                          "restore it from git or run with --retrain")
    seconds = manifest.get("wall_seconds", {}).get("calibrated", {}).get("seconds")
    write_json(cached, {"seconds": seconds if isinstance(seconds, (int, float)) else 0.0,
                        "result": result})
    record_checksum(cached.parent, cached.name, log)
    log(f"[{committed.name}] calibrated attacks: the committed results have the same inputs and "
        f"code (key {key[:12]}); taken from {committed / 'calibrated.json'}")


def calibrated_stage(config: ExperimentConfig, dataset: data_mod.Dataset, run_dir: Path,
                     bank_dir: Path, device: torch.device, progress: bool, log, timings: dict,
                     committed: Path | None = None, membership: Membership | None = None) -> dict:
    """Every attack of ``[calibrated]`` (default ``calibrated.DEFAULT_ROWS``) on both protocols
    (``calibrated.evaluate``), with the bank's first ``[calibrated] references`` models.

    Cached in ``bank_dir`` under ``calibrated_key``: a rerun that changes only figures or the
    deck does not recompute it. ``committed``: a results folder whose calibrated.json may be
    taken in when its manifest records the same key (a fresh clone; None: never, as with
    ``invoke verify`` and --retrain). ``membership``'s canaries and held-out images are left
    out of the evaluation: its population is the bank's without them, members first."""
    membership = membership or membership_mod.Membership(len(dataset.y_train))
    rows, power_rows = experiment_rows(config, dataset.spec)
    refs = config.calibrated.references or config.bank.models
    key = calibrated_key(config, dataset, run_dir, bank_dir, membership)
    cached = bank_dir / f"calibrated-{key[:16]}.json"
    if not cached.exists() and committed is not None:
        adopt_committed_calibrated(committed, key, cached, log)
    if cached.exists():
        try:  # the file as written (its sha256), else computed again
            if unchanged_since_written(bank_dir, cached.name, log):
                entry = read_checked(cached, {"seconds": float, "result": schemas.CALIBRATED},
                                     "computing it again", what="cache file")
                log(f"[{config.name}] calibrated attacks: reusing {cached}")
                timings["calibrated"] = {"seconds": entry["seconds"], "reused": True}
                return entry["result"]
        except FileFailed as e:
            log(f"warning: {e}")
        cached.unlink()
    t0 = time.perf_counter()
    target_logits, labels, n_members, logits, keep = evaluation_inputs(
        config, dataset, run_dir, bank_dir, membership, device, progress, log)
    recorded = read_json(bank_dir / "bank.json").get("train_seconds", {})
    model_seconds = (np.array([float(recorded[str(i)]) for i in range(refs)])
                     if all(str(i) in recorded for i in range(refs)) else None)
    log(f"[{config.name}] calibrated attacks: {len(rows)} attacks, {refs} of the bank's "
        f"{config.bank.models} models as references")
    # The float64 logits above leave about 6 GB freed but resident (glibc keeps it): given
    # back here, before the evaluation allocates its own. Kept, it added up over the
    # experiments of one run, and a fresh clone's `make` ran out of 24 GB in the second.
    release_freed_memory()
    if config.bank.population == "attacker":
        out = disjoint.evaluate_disjoint(target_logits, labels, len(dataset.y_train),
                                         len(dataset.y_test), logits[:refs], keep[:refs],
                                         config.seed, rows)
    else:
        out = calibrated_mod.evaluate(target_logits, labels, n_members, logits[:refs],
                                      keep[:refs], config.seed, config.bank.folds, rows, power_rows,
                                      progress=progress, model_seconds=model_seconds,
                                      loo_references=config.calibrated.leave_one_out_references)
    timings["calibrated"] = {"seconds": round(time.perf_counter() - t0, 3), "reused": False}
    write_json(cached, {"seconds": timings["calibrated"]["seconds"], "result": out})
    record_checksum(bank_dir, cached.name, log)
    return out


def evaluation_inputs(config: ExperimentConfig, dataset: data_mod.Dataset, run_dir: Path,
                      bank_dir: Path, membership: Membership, device: torch.device,
                      progress: bool, log) -> tuple:
    """What the calibrated evaluation reads: (target logits (A, N, C), labels (N,), members,
    bank logits (K, A, N, C), keep (K, N)) over the bank's population without the canaries
    and held-out images, the members first."""
    bank_config = membership_mod.bank_config(config)
    images, labels = bank_mod.population(dataset, bank_config)
    spec = dataset.spec
    model = load_model(config, run_dir / "model.pt", device, spec)
    x = train_mod.to_tensor(images, device, spec)
    target_logits = bank_mod.augmented_logits(model, x, spec).numpy()
    logits = bank_mod.bank_logits(bank_config, dataset, bank_dir, device, progress, log)
    keep = bank_mod.read_keep(bank_dir / "keep.npz")[0]
    n_members = len(dataset.y_train)
    columns = membership_mod.evaluated_columns(membership, len(labels))
    if not membership.plain:  # the evaluation's samples: the members first, then the rest
        target_logits, labels = target_logits[:, columns], labels[columns]  # (A, N, C), (N,)
        logits, keep = logits[:, :, columns], keep[:, columns]  # (K, A, N, C), (K, N)
        n_members = int(columns[:n_members].sum())
    return target_logits, labels, n_members, logits, keep


PER_SAMPLE_LAYOUT = 2  # attack_scores.npz's arrays: 2 added the target's correct and cross_entropy


def per_sample_key(config: ExperimentConfig, dataset: data_mod.Dataset, run_dir: Path,
                   bank_dir: Path, membership: Membership) -> str:
    return sha256_json({"calibrated": calibrated_key(config, dataset, run_dir, bank_dir, membership),
                        "layout": PER_SAMPLE_LAYOUT,
                        "rows": [row_key(*parse_row(r)[:3]) for r in config.calibrated.per_sample]})


def per_sample_stage(config: ExperimentConfig, dataset: data_mod.Dataset, run_dir: Path,
                     bank_dir: Path, membership: Membership, device: torch.device,
                     progress: bool, log) -> Path:
    """``attack_scores.npz``: the per-sample scores of ``[calibrated] per_sample``'s rows on the
    calibrated evaluation's study protocol, the same samples and references as calibrated.json
    (``calibrated.study_split``, ``study_view``, ``score_rows``): ``population_index`` (each
    sample's place in the bank's population: a training image's index, else the number of
    training images plus its test index), ``is_member``, ``label`` and a float64 array per
    row, named as the row with "/" as "__"; and the target's ``correct`` (its prediction is the
    label) and ``cross_entropy`` on the image as it is. The paired comparisons of a study's
    settings, the slices and the gallery read it. Beside it, ``exposed.npz``: the ``GALLERY``
    members the first row scores highest and lowest, with their images. Cached in ``run_dir``
    under ``per_sample_key``."""
    key = per_sample_key(config, dataset, run_dir, bank_dir, membership)
    cached = run_dir / f"attack-scores-{key[:16]}.npz"
    if (cached.exists() and unchanged_since_written(run_dir, cached.name, log)
            and exposed_path(cached).exists()
            and unchanged_since_written(run_dir, exposed_path(cached).name, log)):
        return cached
    cached.unlink(missing_ok=True)
    refs = config.calibrated.references or config.bank.models
    target_logits, labels, n_members, logits, keep = evaluation_inputs(
        config, dataset, run_dir, bank_dir, membership, device, progress, log)
    release_freed_memory()
    n = len(labels)
    split = calibrated_mod.study_split(n_members, n - n_members,
                                       (n - n_members) // calibrated_mod.STUDY_POPULATION_FRACTION,
                                       config.seed)
    view, truth = calibrated_mod.study_view(target_logits, labels, logits[:refs], keep[:refs], split)
    rows = [parse_row(r)[:3] for r in config.calibrated.per_sample]
    scored = calibrated_mod.score_rows(view, rows)
    missing = [k for k, e in scored.items() if "score" not in e]
    if missing:
        raise UserError(f"[calibrated] per_sample: {missing[0]} cannot be scored with {refs} "
                        f"references ({scored[missing[0]]['not_computed']})")
    columns = np.flatnonzero(membership_mod.evaluated_columns(
        membership, len(dataset.y_train) + len(dataset.y_test)))
    attacked = np.concatenate([split.eval_members, split.eval_nonmembers])
    logits = view.target_logits[0]  # the image as it is
    lab = labels[attacked].astype(np.int64)
    shifted = logits - logits.max(1, keepdims=True)  # cross-entropy, stably
    cross_entropy = np.log(np.exp(shifted).sum(1)) - shifted[np.arange(len(lab)), lab]
    write_npz(cached, population_index=columns[attacked].astype(np.int64), is_member=truth,
              label=lab, correct=logits.argmax(1) == lab, cross_entropy=cross_entropy,
              **{k.replace("/", "__"): np.asarray(e["score"], np.float64) for k, e in scored.items()})
    record_checksum(run_dir, cached.name, log)
    # the gallery's images: the members the first row finds most and least exposed
    first = np.asarray(next(iter(scored.values()))["score"], np.float64)
    members = np.flatnonzero(truth)
    order = members[np.argsort(-first[members], kind="stable")]
    shown = np.concatenate([order[:GALLERY], order[-GALLERY:][::-1]])
    index = columns[attacked][shown]
    images, _ = bank_mod.population(dataset, membership_mod.bank_config(config))
    write_npz(exposed_path(cached), image=images[index], population_index=index,
              label=lab[shown], score=first[shown], cross_entropy=cross_entropy[shown],
              most=np.r_[np.ones(GALLERY, bool), np.zeros(GALLERY, bool)],
              attack=np.array(next(iter(scored))))
    record_checksum(run_dir, exposed_path(cached).name, log)
    log(f"[{config.name}] per-sample scores: {', '.join(scored)} on {len(truth):,} samples")
    return cached


GALLERY = 12  # the most and the least exposed members kept with their images (exposed.npz)


def exposed_path(per_sample: Path) -> Path:
    """The gallery's file beside an attack-scores file of the cache."""
    return per_sample.with_name(per_sample.name.replace("attack-scores-", "exposed-"))
