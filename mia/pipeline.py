"""Run experiments stage by stage: train -> scores -> attack -> plots -> report.

Stage outputs that are expensive live in a run directory keyed by the hash of what
determines them (``.cache/runs/<experiment>-<training hash>/``): ``model.pt``,
``history.json``, ``scores.npz``, ``target.json``, ``timings.json``. A stage whose
outputs exist is reused, so changing only the attack settings reruns only the attack.
The results directory is assembled in a staging folder and swapped in at the end, so
``results/<experiment>/`` is always either the complete old or the complete new one.
"""
from __future__ import annotations

import contextlib
import errno
import os
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from . import config as config_mod, datasets as data_mod, manifest as manifest_mod, plots, report
from . import scores as scores_mod, verify
from .architectures import load_weights, weights_bytes
from .config import ExperimentConfig
from .datasets import spec_of
from .evaluation import calibrated as calibrated_mod
from .evaluation.threshold import attack_stage, attacker_counts, full_roc_stage
from .training import bank as bank_mod, engine as train_mod
from .errors import UserError
from .io import (read_json, recover_swap, replace_directory, sha256_file, sha256_json, write_bytes,
                 write_json, write_npz, write_text)
from .locking import exclusive

REPO = Path(__file__).resolve().parent.parent
DEFAULT_RESULTS = REPO / "results"
DEFAULT_CACHE = Path(os.environ.get("MIA_CACHE_DIR", REPO / ".cache"))
# The accuracies of the original study's target, which this study regenerates. The numbers are
# quoted from its slides ("Model Training" slide of shared/reference/study-deck.md), not computed.
REFERENCE_ACCURACY = {
    "train_accuracy": 0.9284, "test_accuracy": 0.5152,
    "source": "the original study's deck, 'Membership Inference Attack' (Marp slides, "
              "shared/reference/study-deck.md), slide 'Model Training'",
}


def training_hash(config: ExperimentConfig, data_key) -> str:
    """The key of the target's trained weights: ``config.training_key()`` (under the hash rule)
    and the data's key (``Dataset.key``)."""
    return sha256_json({"training": config.training_key(), "data_sha256": data_key})


def trajectory_hash(config: ExperimentConfig, data_key) -> str:
    """The key of a training run regardless of its length: the training key without ``epochs``.
    Each epoch's batches depend only on (seed, epoch) and Adam has no schedule, so the first E
    epochs of a longer run are a run of E epochs, bitwise (the resume tests check it)."""
    key = config.training_key()
    return sha256_json({"training": dict(key, train={k: v for k, v in key["train"].items()
                                                     if k != "epochs"}),
                        "data_sha256": data_key, "trajectory": True})


def _resume_from_snapshot(config: ExperimentConfig, run_dir: Path, snapshots: Path, log) -> None:
    """Start this run from the longest snapshot of its trajectory that it would pass through:
    the checkpoint that a run of the same recipe, seed and data left at its last epoch
    (``<cache>/trajectories/<hash>/epoch-0020.pt``). Runs of 20, 50 and 100 epochs thus train
    100 epochs in all, in whatever order they come. A snapshot that does not load is removed."""
    if (run_dir / train_mod.CHECKPOINT).exists():
        return  # this run's own checkpoint is further along, or as far
    usable = sorted((int(p.stem.split("-")[1]), p) for p in snapshots.glob("epoch-*.pt")
                    if p.stem.split("-")[1].isdigit())
    for epoch, path in reversed([(e, p) for e, p in usable if e <= config.train.epochs]):
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if int(state["epoch"]) != epoch:
                raise ValueError(f"holds epoch {state['epoch']}")
        except Exception as e:  # noqa: BLE001 - any unreadable snapshot is dropped, not used
            log(f"warning: unreadable snapshot {path} ({type(e).__name__}); removed it")
            path.unlink(missing_ok=True)
            continue
        write_bytes(run_dir / train_mod.CHECKPOINT, path.read_bytes())
        log(f"[{config.name}] train: starting from epoch {epoch}, a snapshot of the same run "
            f"({path})")
        return


@contextlib.contextmanager
def _timed(timings: dict, stage: str):
    t0 = time.perf_counter()
    yield
    timings[stage] = {"seconds": round(time.perf_counter() - t0, 3), "reused": False}


# ---------------------------------------------------------------- stage: train
def train_stage(config: ExperimentConfig, dataset: data_mod.Dataset, run_dir: Path,
                device: torch.device, progress: bool, log=print) -> None:
    """Writes model.pt and history.json into ``run_dir`` (resuming from a checkpoint there)."""
    spec = spec_of(dataset)
    x_tr, x_te = (train_mod.to_tensor(x, device, spec) for x in (dataset.x_train, dataset.x_test))
    y_tr, y_te = (torch.from_numpy(y).to(device) for y in (dataset.y_train, dataset.y_test))
    model, history = train_mod.train(config.train, config.seed, x_tr, y_tr, x_te, y_te,
                                     run_dir, progress=progress,
                                     log=lambda line: log(f"[{config.name}] train: {line}"),
                                     num_classes=spec.num_classes)
    write_json(run_dir / "history.json", history)
    write_bytes(run_dir / "model.pt", weights_bytes(model.state_dict()))


def load_model(config: ExperimentConfig, path: Path, device: torch.device,
               spec: data_mod.DatasetSpec) -> torch.nn.Module:
    """The target saved in ``path``: the experiment's architecture for ``spec``'s images."""
    return load_weights(config.train.architecture, path, device, spec.input_shape,
                        spec.num_classes)


# ---------------------------------------------------------------- stage: scores
def scores_stage(config: ExperimentConfig, dataset: data_mod.Dataset, run_dir: Path,
                 device: torch.device) -> None:
    """Per-sample scores of every registered score: training set first, then test set."""
    spec = spec_of(dataset)
    model = load_model(config, run_dir / "model.pt", device, spec)
    x = torch.cat([train_mod.to_tensor(dataset.x_train, device, spec),
                   train_mod.to_tensor(dataset.x_test, device, spec)])
    labels = np.concatenate([dataset.y_train, dataset.y_test])
    logits = train_mod.predict_logits(model, x)
    y = torch.from_numpy(labels).to(device)
    arrays = scores_mod.compute(list(scores_mod.SCORES), logits, y)
    n_train = len(dataset.y_train)
    is_member = np.arange(len(labels)) < n_train
    correct = (logits.argmax(1) == y).cpu().numpy()
    ce = arrays["cross_entropy"]
    target = {
        "train_accuracy": float(correct[:n_train].mean()), "test_accuracy": float(correct[n_train:].mean()),
        "train_loss": float(ce[:n_train].mean()), "test_loss": float(ce[n_train:].mean()),
        "n_train": int(n_train), "n_test": int(len(labels) - n_train),
        "scores_version": scores_mod.VERSION,
    }
    write_npz(run_dir / "scores.npz", **arrays, is_member=is_member, label=labels.astype(np.int64))
    write_json(run_dir / "target.json", target)


def _npz_names(path: Path) -> set[str]:
    """The array names in an .npz, without reading the arrays (empty if the file is missing)."""
    if not path.exists():
        return set()
    with np.load(path, allow_pickle=False) as f:
        return set(f.files)


def load_scores(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


# ---------------------------------------------------------------- stage: bank
def bank_stage(config: ExperimentConfig, dataset: data_mod.Dataset, bank_dir: Path,
               committed: Path, device: torch.device, progress: bool, log, timings: dict) -> None:
    """Train (or reuse) the reference bank; its wall time is the sum over the models' training,
    whichever run trained them."""
    bank_mod.seed_from_results(config, dataset, committed, bank_dir, log)
    info = bank_mod.train_bank(config, dataset, bank_dir, device, progress, log)
    trained = info.pop("trained_this_run")
    timings["bank"] = {"seconds": round(sum(info["train_seconds"].values()), 3),
                       "reused": trained == 0, "models": config.bank.models,
                       "folds": config.bank.folds, "keeps": info["keeps"],
                       "models_trained_this_run": trained, "device": info["device"]}
    if trained == 0:
        log(f"[{config.name}] bank: reusing {config.bank.models} models in {bank_dir}")


def calibrated_stage(config: ExperimentConfig, dataset: data_mod.Dataset, run_dir: Path,
                     bank_dir: Path, device: torch.device, progress: bool, log, timings: dict) -> dict:
    """Every attack of ``[calibrated]`` (default ``calibrated.DEFAULT_ROWS``) on both protocols
    (``calibrated.evaluate``), with the bank's first ``[calibrated] references`` models.

    Cached in ``bank_dir`` under a hash of its inputs (the target's weights, the bank, the
    seed, the references used) and of ``calibrated.settings()``: a rerun that changes only
    figures or the deck does not recompute it."""
    rows, power_rows = calibrated_mod.configured_rows(config.calibrated)
    refs = config.calibrated.references or config.bank.models
    key = sha256_json({"target": sha256_file(run_dir / "model.pt"),
                       "bank": read_json(bank_dir / "bank.json").get("bank_hash"),
                       "keep": sha256_file(bank_dir / "keep.npz"), "seed": config.seed,
                       "n_train": len(dataset.y_train), "references": refs,
                       "settings": calibrated_mod.settings(rows, power_rows, config.bank.folds)})
    cached = bank_dir / f"calibrated-{key[:16]}.json"
    if cached.exists():
        try:
            entry = read_json(cached)
            log(f"[{config.name}] calibrated attacks: reusing {cached}")
            timings["calibrated"] = {"seconds": entry["seconds"], "reused": True}
            return entry["result"]
        except (ValueError, KeyError, TypeError):
            cached.unlink()
    t0 = time.perf_counter()
    images, labels = bank_mod.population(dataset)
    spec = spec_of(dataset)
    model = load_model(config, run_dir / "model.pt", device, spec)
    target_logits = bank_mod.augmented_logits(model, train_mod.to_tensor(images, device, spec)
                                              ).numpy()
    logits = bank_mod.bank_logits(config, dataset, bank_dir, device, progress)
    keep = bank_mod.read_keep(bank_dir / "keep.npz")[0]
    log(f"[{config.name}] calibrated attacks: {len(rows)} attacks, {refs} of the bank's "
        f"{config.bank.models} models as references")
    out = calibrated_mod.evaluate(target_logits, labels, len(dataset.y_train), logits[:refs],
                                  keep[:refs], config.seed, config.bank.folds, rows, power_rows,
                                  progress)
    timings["calibrated"] = {"seconds": round(time.perf_counter() - t0, 3), "reused": False}
    write_json(cached, {"seconds": timings["calibrated"]["seconds"], "result": out})
    return out


# ---------------------------------------------------------------- the experiment
def experiment_sizes(config: ExperimentConfig, n_train: int, n_test: int) -> tuple[int, int]:
    """The members and non-members an experiment uses of a dataset of ``n_train`` training
    and ``n_test`` test images (``[data] max_train`` and ``max_test``, 0 keeping all)."""
    return (min(config.data.max_train or n_train, n_train),
            min(config.data.max_test or n_test, n_test))


MIN_EVAL_PER_CLASS = 10  # below this an accuracy moves in steps of 5 points or more


def check_sizes(config: ExperimentConfig, n_m: int, n_n: int) -> None:
    """Fail before any work if a sampling percentage cannot be drawn from ``n_m`` members and
    ``n_n`` non-members (the experiment's training and test images), or leaves fewer than
    MIN_EVAL_PER_CLASS of either to evaluate on, or if the bank's population does not split
    into its folds."""
    folds = config.bank.folds
    if config.bank.models and (n_m + n_n) % folds:
        raise UserError(f"[bank] folds = {folds}: the population of {n_m + n_n} images "
                        f"({n_m} training + {n_n} test) does not split into {folds} equal folds; "
                        f"change [data] max_test or [bank] folds")
    for p in config.attack.sampling_percentages:
        k_m, k_n = attacker_counts(n_m, n_n, p)
        n_eval = min(n_m - k_m, n_n - k_n)
        if n_eval < MIN_EVAL_PER_CLASS:
            raise UserError(f"sampling percentage {p:g} leaves {n_eval} samples per class to "
                            f"evaluate on ({n_m} members, {n_n} non-members); need at least "
                            f"{MIN_EVAL_PER_CLASS}")


def run_experiment(config: ExperimentConfig, dataset: data_mod.Dataset, results_root: Path,
                   cache_root: Path, device: torch.device, retrain: bool = False,
                   progress: bool = True, log=print, workers: int = 1,
                   reuse_root: Path | None = None) -> Path:
    """Train (or reuse), score, attack, plot and report one experiment into ``results_root``.

    A model in ``reuse_root/<experiment>`` (default ``results_root``) with the same training
    hash seeds an empty cache. The attack fits and the figures run on ``workers`` processes;
    nothing depends on how many. One run per experiment at a time: a second one, on the same
    results or the same cache, is refused with the first one's pid and host (``locking``).
    """
    with exclusive(results_root / f".{config.name}.lock", f"results/{config.name} ({results_root})"), \
            exclusive(cache_root / "runs" / f".{config.name}.lock", f"the cache of {config.name}"):
        recover_swap(results_root / config.name, log)
        return _run_experiment(config, dataset, results_root, cache_root, device, retrain,
                               progress, log, workers, reuse_root)


def _run_experiment(config, dataset, results_root, cache_root, device, retrain, progress, log,
                    workers, reuse_root) -> Path:
    dataset = dataset.subset(config.data.max_train, config.data.max_test)
    check_sizes(config, len(dataset.y_train), len(dataset.y_test))
    git = manifest_mod.git_commit(REPO)  # the code this run starts from
    started = manifest_mod.now()
    train_hash = training_hash(config, dataset.key)
    run_dir = cache_root / "runs" / f"{config.name}-{train_hash[:16]}"
    final = results_root / config.name
    if retrain and run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    spec = spec_of(dataset)
    _drop_corrupt_cache(config, run_dir, log, spec)
    _seed_cache_from_results((reuse_root or results_root) / config.name, run_dir, train_hash,
                             retrain, log, config, spec)
    _share_cached_target(run_dir, train_hash, retrain, log, config, spec)
    # Wall times of the stages that produced the cached outputs (seeded from the results'
    # manifest on a fresh clone): a reused stage keeps the time it took when it ran.
    timings = _read_json_or(run_dir / "timings.json", {}, log)

    def reused(stage: str) -> None:
        timings[stage] = dict(timings.get(stage, {"seconds": None}), reused=True)
        log(f"[{config.name}] {stage}: reusing {run_dir}")
    if (run_dir / "model.pt").exists() and (run_dir / "history.json").exists():
        reused("train")
    else:
        for stale in ("scores.npz", "target.json"):
            (run_dir / stale).unlink(missing_ok=True)
        log(f"[{config.name}] train: {config.train.epochs} epochs on {device} "
            f"({len(dataset.y_train)} train / {len(dataset.y_test)} test images)")
        snapshots = cache_root / "trajectories" / trajectory_hash(config, dataset.key)[:16]
        _resume_from_snapshot(config, run_dir, snapshots, log)
        with _timed(timings, "train"):
            train_stage(config, dataset, run_dir, device, progress, log)
        write_bytes(snapshots / f"epoch-{config.train.epochs:04d}.pt",
                    (run_dir / train_mod.CHECKPOINT).read_bytes())
        # After a resume, this attempt's time is only part of the work: record the epochs'
        # time over all attempts, and how many attempts there were.
        state = torch.load(run_dir / train_mod.CHECKPOINT, map_location="cpu", weights_only=True)
        timings["train"].update(
            device=str(device), attempts=int(state.get("attempts", 1)),
            epochs_seconds_all_attempts=round(sum(h["seconds"] for h in state["history"]), 3),
            **_engine(config, device))
        write_json(run_dir / "timings.json", timings)

    have = _npz_names(run_dir / "scores.npz")
    if (all(s in have for s in config.attack.scores) and (run_dir / "target.json").exists()
            and read_json(run_dir / "target.json").get("scores_version") == scores_mod.VERSION):
        reused("scores")
    else:
        log(f"[{config.name}] scores: {len(scores_mod.SCORES)} scores of "
            f"{len(dataset.y_train) + len(dataset.y_test):,} samples on {device}")
        with _timed(timings, "scores"):
            scores_stage(config, dataset, run_dir, device)
        write_json(run_dir / "timings.json", timings)
    scores = load_scores(run_dir / "scores.npz")

    calibrated = None
    if config.bank.models:
        bank_dir = bank_mod.bank_dir_for(config, dataset, cache_root)
        # a bank is shared by every experiment of its recipe, population and bank seed
        with exclusive(bank_dir.parent / f".{bank_dir.name}.lock", f"the bank {bank_dir}"):
            if retrain and bank_dir.exists():
                shutil.rmtree(bank_dir)
            bank_stage(config, dataset, bank_dir,
                       (reuse_root or results_root) / config.name / "bank", device, progress, log,
                       timings)
            calibrated = calibrated_stage(config, dataset, run_dir, bank_dir, device, progress,
                                          log, timings)

    log(f"[{config.name}] attack: {len(config.attack.scores)} scores x "
        f"{len(config.attack.sampling_percentages)} percentages x {config.attack.repeats} repeats")
    with _timed(timings, "attack"):
        attack = attack_stage(config, scores, progress, workers, label=f"{config.name}: attack")
        roc_all = full_roc_stage(config, scores)
    timings["attack"]["workers"] = workers
    target = read_json(run_dir / "target.json")
    target["reference"] = REFERENCE_ACCURACY
    history = read_json(run_dir / "history.json")
    metrics = {
        "experiment": config.name, "description": config.description,
        "config_hash": config.hash(), "training_hash": train_hash,
        "data_notes": dataset.source.get("notes", ""),
        "target": target, "all_samples": roc_all, "attack": attack,
    }

    staging = results_root / f".{config.name}.staging"  # a stray one was removed by recover_swap
    staging.mkdir(parents=True)
    try:
        _write_results(config, dataset, scores, history, metrics, timings, staging, final,
                       run_dir, train_hash, git, started, device, progress, workers, log,
                       calibrated, bank_mod.bank_dir_for(config, dataset, cache_root))
    except OSError as e:
        if e.errno == errno.ENOSPC:  # one line, not three chained tracebacks
            raise UserError(f"no space left on device while writing {e.filename or staging}; "
                            f"the previous results in {final} are intact") from None
        raise
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    log(f"[{config.name}] wrote {final}")
    return final


def _write_results(config, dataset, scores, history, metrics, timings, staging, final, run_dir,
                   train_hash, git, started, device, progress, workers, log, calibrated=None,
                   bank_dir=None) -> None:
    """Figures, tables and the manifest into ``staging``, then swapped in as ``final``."""
    with _timed(timings, "plots"):
        plots.experiment_figures(config, scores, history, metrics, staging / "figures",
                                 progress=progress, dataset=dataset, workers=workers)
        if calibrated is not None:
            plots.calibrated_figures(calibrated, config.name, staging / "figures")
    timings["plots"]["workers"] = workers
    with _timed(timings, "report"):
        write_json(staging / "metrics.json", metrics)
        report.write_summary(metrics, staging)
        write_json(staging / "history.json", history)
        shutil.copyfile(run_dir / "scores.npz", staging / "scores.npz")
        shutil.copyfile(run_dir / "model.pt", staging / "model.pt")
        write_json(staging / "config.json", config.to_dict())
        if calibrated is not None:
            write_json(staging / "calibrated.json", calibrated)
            write_text(staging / "calibrated.md", report.calibrated_markdown(calibrated, config.name))
            bank_mod.copy_bank(bank_dir, staging / "bank", config.bank.models)
    manifest = {
        "experiment": config.name, "started": started, "finished": manifest_mod.now(),
        "command": shlex.join(sys.argv),
        "config": config.to_dict(), "config_hash": config.hash(),
        "training_hash": train_hash, "seed": config.seed,
        "git": git,
        **manifest_mod.environment(device),
        "data": dataset.source,
        "wall_seconds": timings,
        # sha256 of every artifact in this folder but the figures and this manifest
        "files": {f: sha256_file(staging / f) for f in ARTIFACTS + _bank_files(config)
                  if (staging / f).exists()},
    }
    write_json(staging / "manifest.json", manifest)
    if (final / "metrics.json").is_file():  # did this run reproduce what it replaces?
        try:
            verdict = verify.compare(final, staging)
            manifest["reproduction"] = {"compared_with": _commit_of(final), **verdict.to_dict()}
            log(verdict.summary())
        except Exception as e:  # an unreadable old result must not cost the new one
            manifest["reproduction"] = {"compared_with": None,
                                        "verdict": f"not compared: {type(e).__name__}: {e}"}
            log(f"[{config.name}] not compared with the results it replaces: {e}")
        write_json(staging / "manifest.json", manifest)
    write_json(run_dir / "timings.json", {k: v for k, v in timings.items()
                                          if k in ("train", "scores")})
    replace_directory(staging, final, log)


ARTIFACTS = ("model.pt", "scores.npz", "history.json", "metrics.json", "config.json",
             "summary.csv", "summary.md")


def _bank_files(config: ExperimentConfig) -> tuple[str, ...]:
    if not config.bank.models:
        return ()
    return ("calibrated.json", "calibrated.md", *(f"bank/{f}" for f in bank_mod.FILES),
            *(f"bank/{bank_mod.model_path(Path(), m).name}" for m in range(config.bank.models)))


def _read_json_or(path: Path, default, log):
    """A cached JSON file, or ``default`` (with a warning) when it is missing or unreadable."""
    if not path.exists():
        return default
    try:
        return read_json(path)
    except (ValueError, OSError) as e:
        log(f"warning: unreadable cache file {path} ({type(e).__name__}); recomputing it")
        path.unlink(missing_ok=True)
        return default


def _drop_corrupt_cache(config: ExperimentConfig, run_dir: Path, log,
                        spec: data_mod.DatasetSpec) -> None:
    """Verify the cached stage outputs before reusing any: a model that does not load, or a
    history or scores file that does not parse, is removed with a warning, so that its stage
    runs again (or is seeded again from the results)."""
    def drop(names, why):
        log(f"warning: {why}; recomputing: removed {', '.join(names)} from {run_dir}")
        for n in names:
            (run_dir / n).unlink(missing_ok=True)
    trained = ("model.pt", "history.json", "scores.npz", "target.json")
    if (run_dir / "model.pt").exists():
        try:
            load_model(config, run_dir / "model.pt", torch.device("cpu"), spec)
        except UserError:
            return drop(trained, f"corrupt cached model {run_dir / 'model.pt'}")
    if (run_dir / "history.json").exists():
        try:
            read_json(run_dir / "history.json")
        except (ValueError, OSError):
            return drop(trained, f"corrupt cached history {run_dir / 'history.json'}")
    for name in ("scores.npz", "target.json"):
        path = run_dir / name
        if path.exists():
            try:
                load_scores(path) if name.endswith(".npz") else read_json(path)
            except Exception:  # BadZipFile, ValueError, OSError, ...
                return drop(("scores.npz", "target.json"), f"corrupt cached {path}")


def _commit_of(results: Path) -> str | None:
    """The git commit recorded in a results folder's manifest (None if unreadable)."""
    try:
        return read_json(results / "manifest.json")["git"]["commit"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def closing_summary(paths: list[Path]) -> str:
    """What a run ends with: each experiment's headline numbers and where to look next."""
    lines = ["", "Summary"]
    for d in paths:
        m, manifest = read_json(d / "metrics.json"), read_json(d / "manifest.json")
        t = m["target"]
        acc = [c["summary"]["accuracy"]["mean"] for by_p in m["attack"]["results"].values()
               for c in by_p.values()]
        lines.append(f"  {m['experiment']}: target {t['train_accuracy']:.1%} train / "
                     f"{t['test_accuracy']:.1%} test; attack accuracy {min(acc):.1%} to "
                     f"{max(acc):.1%} over {len(acc)} settings; "
                     + ", ".join(f"{s} AUC {v['auc']:.3f}, TPR@1%FPR {v['tpr_at_1pct_fpr']:.2%}"
                                 for s, v in m["all_samples"].items() if s != "probability_loss"))
        rep_ = manifest.get("reproduction")
        lines.append(f"    {d / 'summary.md'}; "
                     + (f"vs the results it replaced: {rep_['verdict']}" if rep_
                        else "nothing earlier to compare with"))
    lines.append("  next: `invoke slides` builds the deck (slides/build/deck.pdf) from these results")
    return "\n".join(lines)


def _seed_cache_from_results(final: Path, run_dir: Path, train_hash: str, retrain: bool, log,
                             config: ExperimentConfig, spec: data_mod.DatasetSpec) -> None:
    """A fresh checkout has results/ but no cache: reuse its model if the training hash matches
    (and the model loads: a corrupt one is named, with what to do)."""
    if retrain or (run_dir / "model.pt").exists() or not (final / "manifest.json").exists():
        return
    try:
        manifest = read_json(final / "manifest.json")
    except ValueError:
        return
    if manifest.get("training_hash") != train_hash:
        return
    for name in ("model.pt", "history.json"):
        if not (final / name).exists():
            return
    load_model(config, final / "model.pt", torch.device("cpu"), spec)  # a corrupt one: one line naming it
    try:
        read_json(final / "history.json")
    except ValueError as e:
        raise UserError(f"corrupt {final / 'history.json'} ({e}); restore it or run with --retrain"
                        ) from None
    _adopt_trained_model(final, run_dir, manifest.get("wall_seconds", {}))
    log(f"[{final.name}] found a model with the same training hash in {final}")


def _adopt_trained_model(source: Path, run_dir: Path, timings: dict) -> None:
    """Copy a checked model.pt and history.json into ``run_dir``, with the train stage's time."""
    for name in ("history.json", "model.pt"):
        shutil.copyfile(source / name, run_dir / name)
    write_json(run_dir / "timings.json", {k: v for k, v in timings.items() if k == "train"})


def _share_cached_target(run_dir: Path, train_hash: str, retrain: bool, log,
                         config: ExperimentConfig, spec: data_mod.DatasetSpec) -> None:
    """Experiments with the same recipe, seed and data (another name, another bank) attack the
    same target: copy its trained model from the other experiment's run directory instead of
    training it again (the scores, seconds to compute, are computed again)."""
    if retrain or (run_dir / "model.pt").exists():
        return
    for other in sorted(run_dir.parent.glob(f"*-{train_hash[:16]}")):
        if other == run_dir or not all((other / f).exists() for f in ("model.pt", "history.json")):
            continue
        try:
            load_model(config, other / "model.pt", torch.device("cpu"), spec)
            read_json(other / "history.json")
        except (UserError, ValueError):
            continue  # that experiment's own run names or repairs it
        _adopt_trained_model(other, run_dir, _read_json_or(other / "timings.json", {}, log))
        log(f"[{config.name}] found a model with the same training hash in {other}")
        return


def check_writable(folder: Path) -> None:
    """Fail before any work if ``folder`` cannot hold results (a file, or not writable)."""
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{folder} is a file, not a folder: give another --results-dir")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise UserError(f"cannot write to {folder} ({e.strerror})") from None


def _engine(config: ExperimentConfig, device: torch.device) -> dict:
    """How the training stage ran, for the timings in the manifest."""
    if device.type == "cuda":
        return {"engine": "cuda_graph"}
    return {"engine": "cpu_sharded", "cpu_shards": config.train.cpu_shards,
            "cpu_memory_format": config.train.cpu_memory_format,
            "cpu_workers": train_mod.cpu_workers().n}


def run(names: list[str] | None, data_dir: str | None, device: str, quick: bool,
        results_root: Path | None, cache_root: Path = DEFAULT_CACHE, retrain: bool = False,
        progress: bool = True, experiments_dir: Path = config_mod.EXPERIMENTS_DIR,
        threads: int | None = None, log=print, reuse_root: Path | None = None) -> list[Path]:
    """Everything ``invoke experiments`` does. All input is validated before anything runs.
    ``reuse_root``: results whose trained models may be reused (default ``results_root``).

    On CPU, training and scoring run on ``threads`` worker threads (default: every available
    core), each with one PyTorch thread; the attack fits and the figures run on as many worker
    processes (on any device). The results do not depend on how many (``train.ShardedStep``,
    ``parallel``).
    """
    if threads is not None and threads < 1:
        raise UserError(f"threads must be >= 1, got {threads}")
    if threads is not None and threads > train_mod.available_cpus():
        log(f"warning: --threads {threads} starts {threads} worker processes (about 200 MB "
            f"each) on {train_mod.available_cpus()} available cores; more cannot run faster")
    names = names or config_mod.available(experiments_dir)
    if not names:
        raise UserError(f"no experiments in {experiments_dir}")
    configs = [config_mod.load_named(n, experiments_dir) for n in names]
    if results_root is None:
        results_root = DEFAULT_RESULTS / "quick" if quick else DEFAULT_RESULTS
    for root in (results_root, cache_root):
        check_writable(root)
    dev = train_mod.resolve_device(device)
    if dev.type == "cpu":
        workers = train_mod.configure_cpu(threads)
    else:
        workers = threads or train_mod.available_cpus()
    # every experiment loads its own dataset, each dataset once
    data = {name: data_mod.load(name, data_dir) for name in sorted({c.data.dataset for c in configs})}
    if quick:
        configs = [config_mod.quick(c, len(data[c.data.dataset].y_train),
                                    len(data[c.data.dataset].y_test)) for c in configs]
    for c in configs:
        full = data[c.data.dataset]
        check_sizes(c, *experiment_sizes(c, len(full.y_train), len(full.y_test)))
    for dataset in data.values():
        if dataset.source.get("notes"):
            log(f"data: {dataset.source['path']}: {dataset.source['notes']}")
    paths = [run_experiment(c, data[c.data.dataset], results_root, cache_root, dev, retrain,
                            progress, log, workers, reuse_root) for c in configs]
    log(closing_summary(paths))
    return paths
