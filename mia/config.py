"""Experiment definitions: TOML files in ``experiments/``, validated into dataclasses.

An experiment file looks like ``experiments/baseline.toml``; every key has a default
here, so a file only states what differs. Unknown keys are errors (a typo must not be
silently ignored).
"""
from __future__ import annotations

import dataclasses
import inspect
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .architectures import ARCHITECTURES
from .attacks import ATTACKS, SignalView
from .datasets import DATASETS
from .errors import UserError
from .experiment_files import MAX_SEED, declared, sweep_seeds
from .io import read_toml, sha256_json
from .locations import EXPERIMENTS
from .config_checks import validate_bank, validate_early_stopping, validate_privacy
from .recipes import RECIPES
from .scores import SCORES

EXPERIMENTS_DIR = EXPERIMENTS
MEMORY_FORMATS = ("channels_last", "contiguous")


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "cifar10"
    max_train: int = 0  # 0 = all 50,000 training images (the members)
    max_test: int = 0  # 0 = all 10,000 test images (the non-members)
    # Only the images of the first ``classes`` classes (labels 0..classes-1), training and test
    # alike, and a model of that many outputs; 0: every class.
    classes: int = 0
    # The members: the first round(train_fraction x N) training images (after ``classes``);
    # the rest of the training images are in no role of the target. 1: all of them.
    train_fraction: float = 1.0
    # The one-run privacy audit's canaries (mia.canaries): this many of the members, each kept
    # in the target's training set by an independent fair coin and left out of the
    # membership-inference evaluation; drawn from ``canary_seed`` alone, so experiments that
    # differ only in their recipe or seed share them. 0: none.
    canaries: int = 0
    canary_seed: int = 0


@dataclass(frozen=True)
class TrainConfig:
    architecture: str = "lenet5"
    epochs: int = 100
    # 128: the classic small-CNN setting; large enough that a CPU epoch is a few seconds,
    # small enough that LeNet-5 overfits CIFAR-10 the way the reference study did.
    batch_size: int = 128
    learning_rate: float = 1e-3
    # Adam's coupled L2 penalty: the gradient gets ``weight_decay * w`` added.
    weight_decay: float = 0.0
    checkpoint_every: int = 1
    # CPU only: each batch's gradient is the fixed-order sum of this many shard gradients,
    # computed in parallel (mia.training.engine.ShardedStep). The weights depend on this number, not
    # on how many cores share the work; 2 keeps both cores of a small machine busy.
    cpu_shards: int = 2
    # CPU only: the memory layout of the model's weights and of each batch, "channels_last"
    # (NHWC) or "contiguous" (NCHW). oneDNN's convolutions and PyTorch's max-pool run about
    # 1.2-1.6x faster in channels-last on LeNet-5 (docs/performance.md); the float sums run
    # in another order, so the weights depend on this setting.
    cpu_memory_format: str = "channels_last"
    # Dropout probability of the architecture's hidden units (mia.architectures); 0: none.
    dropout: float = 0.0
    # The weight layers and the width (hidden units, or channels) of the architectures that
    # take them ("mlp", "cnn"); 0: the architecture's own default (LeNet-5 takes neither).
    depth: int = 0
    width: int = 0
    # The training recipe (mia.recipes): the optimiser and each epoch's batches. "adam": Adam
    # with seeded permutations, the study's recipe.
    recipe: str = "adam"
    # Differentially private recipes (``recipe = "dp_adam"``, mia.recipes.dp_adam): the target
    # epsilon at delta that the noise is calibrated to (with the ``dp_accountant``, "rdp" or
    # "prv", over the whole run), and each sample's gradient's clipping norm. Unused otherwise.
    dp_epsilon: float = 0.0
    dp_delta: float = 1e-5
    dp_max_grad_norm: float = 1.0
    dp_accountant: str = "rdp"
    # Early stopping (mia.training.early_stopping): this share of the training images (the
    # canaries aside) is held out of training and of the evaluation; with a patience, the
    # weights kept are those of the epoch of best held-out accuracy, and training stops after
    # ``early_stopping_patience`` epochs without a better one. Each reference model holds out
    # the same share of its own images. A share with patience 0: held out, every epoch
    # trained (the matched comparison of early stopping).
    early_stopping_holdout: float = 0.0
    early_stopping_patience: int = 0

    def model_options(self) -> dict[str, Any]:
        """The architecture's options (``mia.architectures.build``), those off their default."""
        return {k: getattr(self, k) for k in ("dropout", "depth", "width") if getattr(self, k)}


@dataclass(frozen=True)
class AttackConfig:
    attack: str = "kde_threshold"
    scores: tuple[str, ...] = ("cross_entropy", "probability_loss", "normalized_probability_loss")
    sampling_percentages: tuple[float, ...] = (1, 2, 4, 8, 16, 32, 50)
    repeats: int = 10
    # Grid on which the two KDEs are evaluated to find where they cross.
    kde_grid_points: int = 2048


@dataclass(frozen=True)
class BankConfig:
    # K reference models of the target's own recipe ([train]) on the population (every
    # training and test image), in rounds of ``folds`` models (mia.training.bank): each round splits
    # the population into ``folds`` random folds and each of its models leaves one fold out.
    # folds = 2: complementary halves, every sample IN for exactly K/2 models. folds = 6: each
    # model keeps 50,000 of CIFAR-10's 60,000 images, the size of the target's training set.
    # 0 models: no bank, no reference-model attacks.
    models: int = 0
    folds: int = 2
    # The seed of the bank's keep-matrix and of its models' initialisations, its own so that
    # targets of one recipe trained with several seeds ([seed]) share one bank. -1: the
    # experiment's seed, which is what every bank committed before this setting was used.
    seed: int = -1
    # Whose images the bank's models train on. "all": the population above (the references of
    # the calibrated attacks). "attacker": Shokri et al.'s shadow models, on the attacker's own
    # data alone, the training images outside the target's members ([data] train_fraction < 1),
    # disjoint from the target's members and from the evaluated non-members (the test images):
    # in rounds of 2 (folds = 2), each round draws 2 s of the attacker's images at random and
    # its two models keep one half each, s = the target's training-set size, or half the
    # attacker's images when they are fewer than 2 s (mia.keep.attacker_keep).
    population: str = "all"

    def seed_for(self, experiment_seed: int) -> int:
        """The seed the bank is drawn from: its own, or the experiment's when unset (-1)."""
        return experiment_seed if self.seed == -1 else self.seed


@dataclass(frozen=True)
class CalibratedConfig:
    # The rows of the comparison, named as in its tables: "<attack>[/<option>...][/flip]",
    # e.g. "lira_online/global/flip" (mia.attacks.parse_row). Empty: the standard set,
    # mia.evaluation.calibrated.DEFAULT_ROWS.
    attacks: tuple[str, ...] = ()
    # The attacks of the power-versus-references curve. Empty: mia.evaluation.calibrated.DEFAULT_POWER.
    power_attacks: tuple[str, ...] = ()
    # Reference models the evaluation uses: the bank's first ``references`` (whole rounds of
    # [bank] folds models). 0: every model of the bank.
    references: int = 0
    # Leave-one-out also measured with these numbers of references per target (whole rounds,
    # subsampled from the other rounds), for a matched comparison with a smaller bank: the
    # defended bank's 8 models leave 6 per target. Empty: none.
    leave_one_out_references: tuple[int, ...] = ()
    # The attack whose scores of the canaries ([data] canaries) the one-run audit guesses
    # from (mia.privacy_audit), with the same references; a row as in ``attacks``.
    audit_attack: str = "rmia_online"
    # Rows whose per-sample scores on the study protocol are kept (attack_scores.npz): for
    # paired comparisons across experiments, slices and galleries. Empty: none kept.
    per_sample: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExperimentConfig:
    name: str
    description: str = ""
    # How figure titles, captions and the figure index name this experiment ("undefended
    # LeNet-5"); empty: its name. Presentation only: not in the config hash.
    title: str = ""
    seed: int = 0
    # Whether the experiment draws its own figures. false: its numbers only (metrics, scores,
    # model), for experiments that a study's table and figure present, such as the seeds of
    # an arm (a study's [[comparisons]]): the results budget holds their numbers, not 40
    # figures each. Presentation only: not in the config hash.
    figures: bool = True
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    attack: AttackConfig = field(default_factory=AttackConfig)
    bank: BankConfig = field(default_factory=BankConfig)
    calibrated: CalibratedConfig = field(default_factory=CalibratedConfig)

    def to_dict(self) -> dict[str, Any]:
        """Every setting, defaults included, but those of ``WRITTEN_WHEN_SET`` at their default:
        config.json, the manifest and the figures' key record this."""
        out = dataclasses.asdict(self)
        for section, names in WRITTEN_WHEN_SET.items():
            table, default = out[section], _SECTIONS[section]()
            for name in names:
                if _plain(table[name]) == _plain(getattr(default, name)):
                    del table[name]
        return out

    def hash(self) -> str:
        """The config hash of metrics.json and the manifest, under the hash rule (``keyed``)."""
        return sha256_json({"name": self.name, "description": self.description, "seed": self.seed,
                            **{s: keyed(getattr(self, s)) for s in _SECTIONS}})

    @property
    def readable_name(self) -> str:
        return self.title or self.name

    def training_key(self, seed: int | None = None) -> dict[str, Any]:
        """Everything that determines the trained weights (the attack settings do not), under
        the hash rule (``keyed``). ``seed``: another training seed (a bank's)."""
        return {"seed": self.seed if seed is None else seed, "data": keyed(self.data),
                "train": keyed(self.train)}


# The hash rule. The training, bank and config keys hold every field that existed when the
# rule was introduced (2026-11-30), whatever its value, so that the committed models and banks
# keep their hashes. A field added since enters a key only when it differs from its default:
# a new setting whose default changes nothing changes no key, and no committed model retrains.
# ``[bank] folds`` followed the same rule before it had a name (mia.training.bank.bank_hash).
KEYED_BEFORE_THE_RULE = {
    "DataConfig": ("dataset", "max_train", "max_test"),
    "TrainConfig": ("architecture", "epochs", "batch_size", "learning_rate", "weight_decay",
                    "checkpoint_every", "cpu_shards", "cpu_memory_format"),
    "AttackConfig": ("attack", "scores", "sampling_percentages", "repeats", "kde_grid_points"),
    "BankConfig": ("models", "folds"),
    "CalibratedConfig": ("attacks", "power_attacks", "references"),
}


# Settings added since 2026-12-02 (the defences study): config.json, the manifest and the
# figures' key (``pipeline.results.figures_key``) hold them only when they are off their
# default, so that the committed results of every experiment without them keep their files
# and figures byte for byte (the hash rule's reasoning, for what is written).
WRITTEN_WHEN_SET = {
    "data": ("canaries", "canary_seed"),
    "train": ("dp_epsilon", "dp_delta", "dp_max_grad_norm", "dp_accountant",
              "early_stopping_holdout", "early_stopping_patience"),
    "calibrated": ("audit_attack", "per_sample"),
}


def keyed(section) -> dict[str, Any]:
    """A config section as it enters a hash: the fields that predate the hash rule, and every
    later field whose value differs from its default."""
    always = KEYED_BEFORE_THE_RULE[type(section).__name__]
    return {f.name: _plain(getattr(section, f.name)) for f in dataclasses.fields(section)
            if f.name in always or getattr(section, f.name) != f.default}


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


_SECTIONS = {"data": DataConfig, "train": TrainConfig, "attack": AttackConfig, "bank": BankConfig,
             "calibrated": CalibratedConfig}
_TOP_KEYS = {"name", "description", "title", "seed", "figures"}


def _build(cls, table: dict[str, Any], where: str):
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in table.items():
        if key not in known:
            raise UserError(f"unknown key '{key}' in [{where}] (known: {', '.join(known)})")
        default = known[key].default
        if isinstance(default, tuple):
            if not isinstance(value, list):
                raise UserError(f"[{where}] {key} must be a list, got {value!r}")
            value = tuple(value)
        elif isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif default is not dataclasses.MISSING and type(value) is not type(default):
            raise UserError(f"[{where}] {key} must be {type(default).__name__}, got {value!r}")
        kwargs[key] = value
    return cls(**kwargs)


def from_dict(raw: dict[str, Any], name: str) -> ExperimentConfig:
    raw = dict(raw)
    raw.setdefault("name", name)
    sections = {}
    for key in list(raw):
        if key in _SECTIONS:
            value = raw.pop(key)
            if not isinstance(value, dict):
                raise UserError(f"[{key}] must be a table, got {value!r}")
            sections[key] = _build(_SECTIONS[key], value, key)
        elif key not in _TOP_KEYS:
            raise UserError(f"unknown key '{key}' in experiment '{name}'")
    if not isinstance(raw.get("seed", 0), int) or isinstance(raw.get("seed", 0), bool):
        raise UserError(f"seed must be an integer, got {raw['seed']!r}")
    if not isinstance(raw.get("figures", True), bool):
        raise UserError(f"figures must be true or false, got {raw['figures']!r}")
    config = ExperimentConfig(**raw, **sections)
    validate(config)
    return config


def validate(config: ExperimentConfig) -> None:
    """Raise ``UserError`` naming the first bad value."""
    if not config.name or not all(c.isalnum() or c in "-_" for c in config.name):
        raise UserError(f"experiment name must be letters, digits, '-' or '_', got {config.name!r}")
    for key in ("description", "title"):
        if not isinstance(getattr(config, key), str):
            raise UserError(f"{key} must be a string, got {getattr(config, key)!r}")
    # Seeds feed numpy (non-negative) and torch (seed * 1,000,003 + epoch < 2**63): bound the
    # range rather than change how seeds are derived, so that committed weights stay valid.
    if not 0 <= config.seed <= MAX_SEED:
        raise UserError(f"seed must be between 0 and {MAX_SEED}, got {config.seed}")
    if config.data.dataset not in DATASETS:
        raise UserError(f"unknown dataset {config.data.dataset!r} (known: {', '.join(DATASETS)})")
    for key in ("max_train", "max_test"):
        if getattr(config.data, key) < 0:
            raise UserError(f"[data] {key} must be >= 0, got {getattr(config.data, key)}")
    spec = DATASETS[config.data.dataset]
    if not (config.data.classes == 0 or 2 <= config.data.classes <= spec.num_classes):
        raise UserError(f"[data] classes must be 0 (every class) or between 2 and "
                        f"{spec.num_classes} ({spec.title} has {spec.num_classes} classes), got "
                        f"{config.data.classes}")
    f = config.data.train_fraction
    if not (math.isfinite(f) and 0 < f <= 1):
        raise UserError(f"[data] train_fraction must be in (0, 1], got {f}")
    for key in ("canaries", "canary_seed"):
        value = getattr(config.data, key)
        if not 0 <= value <= MAX_SEED:
            raise UserError(f"[data] {key} must be between 0 and {MAX_SEED}, got {value}")
    t = config.train
    if t.architecture not in ARCHITECTURES:
        raise UserError(f"unknown architecture {t.architecture!r} (known: {', '.join(ARCHITECTURES)})")
    if t.epochs <= 0:
        raise UserError(f"epochs must be > 0, got {t.epochs}")
    if t.batch_size <= 0:
        raise UserError(f"batch_size must be > 0, got {t.batch_size}")
    if not (math.isfinite(t.learning_rate) and t.learning_rate > 0):
        raise UserError(f"learning_rate must be a finite number > 0, got {t.learning_rate}")
    if not (math.isfinite(t.weight_decay) and t.weight_decay >= 0):
        raise UserError(f"weight_decay must be a finite number >= 0, got {t.weight_decay}")
    if not 1 <= t.cpu_shards <= t.batch_size:
        raise UserError(f"cpu_shards must be between 1 and batch_size ({t.batch_size}), "
                        f"got {t.cpu_shards}")
    if not (math.isfinite(t.dropout) and 0 <= t.dropout < 1):
        raise UserError(f"[train] dropout must be in [0, 1), got {t.dropout}")
    for key in ("depth", "width"):
        if getattr(t, key) < 0:
            raise UserError(f"[train] {key} must be >= 0 (0: the architecture's default), got "
                            f"{getattr(t, key)}")
    if t.depth or t.width or t.dropout:  # the architecture must take them: built once, on paper
        taken = inspect.signature(ARCHITECTURES[t.architecture].build).parameters
        for key, value in t.model_options().items():
            if key not in taken:
                raise UserError(f"[train] {key} = {value}: architecture {t.architecture!r} takes "
                                f"no {key}")
    if t.recipe not in RECIPES:
        raise UserError(f"unknown recipe {t.recipe!r} (known: {', '.join(RECIPES)})")
    validate_privacy(t)
    validate_early_stopping(t)
    if t.cpu_memory_format not in MEMORY_FORMATS:
        raise UserError(f"cpu_memory_format must be one of {', '.join(MEMORY_FORMATS)}, "
                        f"got {t.cpu_memory_format!r}")
    validate_bank(config)
    if t.checkpoint_every <= 0:
        raise UserError(f"checkpoint_every must be > 0, got {t.checkpoint_every}")
    a = config.attack
    sampling = [name for name, cls in ATTACKS.items() if cls.view_type is SignalView]
    if a.attack not in sampling:
        raise UserError(f"unknown attack {a.attack!r} (known: {', '.join(sampling)})")
    if not a.scores:
        raise UserError("[attack] scores must name at least one score")
    for s in a.scores:
        if s not in SCORES:
            raise UserError(f"unknown score name {s!r} (known: {', '.join(SCORES)})")
    if len(set(a.scores)) != len(a.scores):
        raise UserError(f"[attack] scores has duplicates: {list(a.scores)}")
    if not a.sampling_percentages:
        raise UserError("[attack] sampling_percentages must not be empty")
    for p in a.sampling_percentages:
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 < p < 100:
            raise UserError(f"sampling percentage must be in (0, 100), got {p!r}")
    repeated = sorted({p for p in a.sampling_percentages if a.sampling_percentages.count(p) > 1})
    if repeated:
        raise UserError(f"[attack] sampling_percentages lists {', '.join(f'{p:g}' for p in repeated)} "
                        f"more than once: {list(a.sampling_percentages)}")
    if a.repeats <= 0:
        raise UserError(f"repeats must be > 0, got {a.repeats}")
    if a.kde_grid_points < 16:
        raise UserError(f"kde_grid_points must be >= 16, got {a.kde_grid_points}")


def load(path: str | Path, seed: int | None = None) -> ExperimentConfig:
    """The experiment a file declares; a seed sweep's member (``mia.experiment_files``) with
    ``seed``: the file with ``seed = <seed>``, named ``<stem>-seed<seed>``."""
    path = Path(path)
    raw = read_toml(path, "experiment file")
    seeds = sweep_seeds(raw, path)
    if seeds is None and seed is None:
        return from_dict(raw, path.stem)
    if seeds is None:
        raise UserError(f"{path} is no seed sweep (it has no seeds list): it declares one "
                        f"experiment, {path.stem}, with its own seed")
    if seed not in seeds:
        raise UserError(f"{path} is a seed sweep over seeds {list(seeds)}: name one of its "
                        f"members ({path.stem}-seed{seeds[0]}, ...), got seed {seed!r}")
    del raw["seeds"]
    return from_dict({**raw, "seed": seed}, f"{path.stem}-seed{seed}")


def available(directory: Path = EXPERIMENTS_DIR) -> list[str]:
    """Every experiment ``directory`` declares, a sweep's members one by one."""
    return list(declared(directory))


def load_named(name: str, directory: Path = EXPERIMENTS_DIR) -> ExperimentConfig:
    found = declared(directory)
    if name not in found:
        raise UserError(f"unknown experiment {name!r} (known: {', '.join(found) or 'none'})")
    return load(found[name].path, found[name].seed)


def quick(config: ExperimentConfig, n_train: int = 50_000, n_test: int = 10_000) -> ExperimentConfig:
    """A tiny version of ``config`` for smoke tests: minutes become seconds. ``n_train`` and
    ``n_test``: the dataset's sizes (the test images are trimmed so that the bank's population
    splits into its folds)."""
    return dataclasses.replace(
        config,
        data=dataclasses.replace(config.data, max_train=2000, canaries=min(config.data.canaries, 200),
                                 max_test=quick_test_images(config.bank.folds, min(2000, n_train),
                                                            min(500, n_test))),
        train=dataclasses.replace(config.train, epochs=2),
        attack=dataclasses.replace(config.attack, sampling_percentages=(10, 50), repeats=2,
                                   kde_grid_points=256),
        # 6: the fewest paired models for which leave-one-out keeps 2 references per side
        # (per-sample LiRA); whole rounds of ``folds`` models
        bank=dataclasses.replace(config.bank, models=_quick_models(config.bank)),
        calibrated=dataclasses.replace(config.calibrated, references=0,
                                       leave_one_out_references=()),
    )


def _quick_models(bank: BankConfig) -> int:
    if not bank.models:
        return 0
    return max(bank.folds, min(bank.models, 6) // bank.folds * bank.folds)


def quick_test_images(folds: int, n_train: int, n_test: int) -> int:
    """``n_test``, or fewer so that the population (``n_train`` + test images) splits into
    ``folds`` equal folds."""
    trimmed = n_test - (n_train + n_test) % folds
    return trimmed if trimmed > 0 else n_test  # too few to trim: check_sizes names the problem
