"""Project tasks: ``invoke experiments``, ``slides``, ``verify``, ``test``, ``bench``, ``lock``,
``clean``, ``data``, ``dp-tuning``.

Only option parsing here; the work is in the ``mia`` package.
"""
import shutil
import sys
from pathlib import Path

from invoke import Exit, Task
from invoke import task as _task

ROOT = Path(__file__).resolve().parent


class HelpfulTask(Task):
    """invoke's automatic short flags, with ``-h`` left to ``--help`` (``invoke experiments -h``)
    and ``-j`` for ``--threads`` (as in ``make -j``)."""

    SHORT = {"threads": "j"}

    def arg_opts(self, name, default, taken_names):
        opts = super().arg_opts(name, default, taken_names | {"h"} | set(self.SHORT.values()))
        if name in self.SHORT:
            opts["names"] = [opts["names"][0], self.SHORT[name]]
        return opts


def task(*args, **kwargs):
    return _task(*args, klass=HelpfulTask, **kwargs)


def whole_number(value, option: str) -> int | None:
    """An option's count (invoke passes it as text), or None when not given; one line and
    exit code 2 when it is not a whole number."""
    try:
        return None if value is None else int(value)
    except ValueError:
        raise Exit(f"error: {option} must be a whole number, got {value!r}", code=2) from None


@task(help={
    "only": "run just this experiment (a file name in experiments/ without .toml; a seed "
            "sweep's name runs every seed, <name>-seed<k> one of them)",
    "study": "run just the experiments of this study (experiments/studies/<name>.toml) and "
             "write its results/studies/<name>/",
    "quick": "tiny config for smoke tests (2 epochs, 2000/500 images); writes results/quick/",
    "data_dir": "CIFAR-10 as an .npz file or a torchvision folder (else $MIA_DATA_DIR, else download)",
    "device": "auto (cuda when present), cpu or cuda",
    "results_dir": "where results go (default results/, or results/quick/ with --quick)",
    "retrain": "ignore cached models and checkpoints and train again",
    "no_progress": "no progress bars",
    "experiments_dir": "folder of experiment TOML files (default experiments/)",
    "threads": "CPU worker threads (default: every available core); results do not depend on it",
    "train": "go on when the run would train on CPU for more than 10 minutes (without it, such "
             "a run stops first and says what it would train, why, and for how long)",
    "executor": "where the targets and the reference banks' models train: local (this machine, "
                "the default) or ray (Ray's local instance, or the cluster at --ray-address or "
                "$RAY_ADDRESS; needs `make cluster`); results do not depend on it",
    "ray_address": "the Ray cluster to join with --executor ray (else $RAY_ADDRESS, else a "
                   "local instance)",
    "side_by_side": "with --executor ray: how many experiments that share nothing run at once "
                    "(default 4; each holds its dataset's images here, about 0.8 GB for CIFAR-10)",
})
def experiments(c, only=None, study=None, quick=False, data_dir=None, device="auto",
                results_dir=None, retrain=False, no_progress=False, experiments_dir=None,
                threads=None, train=False, executor="local", ray_address=None, side_by_side=None):
    """Train the targets, score every sample, attack, and write results/<experiment>/."""
    from mia import config, pipeline, studies
    from mia.errors import UserError

    workers = whole_number(threads, "--threads")
    at_once = whole_number(side_by_side, "--side-by-side")
    if only and study:
        raise Exit("error: give --only or --study, not both", code=2)
    try:
        names = [only] if only else None
        if study:
            exp_dir = Path(experiments_dir) if experiments_dir else config.EXPERIMENTS_DIR
            names = studies.load_named(study, exp_dir / "studies").all_experiments
        pipeline.run(names, data_dir=data_dir, device=device, quick=quick,
                     results_root=Path(results_dir) if results_dir else None, retrain=retrain,
                     progress=not no_progress, threads=workers, train=train,
                     experiments_dir=Path(experiments_dir) if experiments_dir else config.EXPERIMENTS_DIR,
                     executor=executor, ray_address=ray_address, side_by_side=at_once)
    except UserError as e:
        raise Exit(f"error: {e}", code=2)
    except KeyboardInterrupt:
        raise Exit(INTERRUPTED, code=130) from None


# Ctrl-C: results are swapped in whole, and every finished stage and bank model is in the
# cache, so a rerun of the same command resumes; 130 is the shell's code for SIGINT.
INTERRUPTED = ("interrupted: results/ holds only whole experiments (each is swapped in when "
               "finished); every finished stage and bank model is kept in the cache, and the "
               "same command resumes from them")


@task(help={
    "reference": "results to compare against (default: results/ as the repository's HEAD "
                 "holds it, not the working tree)",
    "candidate": "compare this existing results folder instead of rerunning",
    "only": "just this experiment",
    "quick": "rerun with the tiny --quick config (compare against results/quick/)",
    "data_dir": "CIFAR-10 for the rerun (else $MIA_DATA_DIR, else download)",
    "device": "auto, cpu or cuda, for the rerun",
    "threads": "CPU workers for the rerun",
    "no_progress": "no progress bars",
    "experiments_dir": "folder of experiment TOML files for the rerun (default experiments/)",
    "train": "go on when the rerun would train on CPU for more than 10 minutes",
})
def verify(c, reference=None, candidate=None, only=None, quick=False, data_dir=None,
           device="auto", threads=None, no_progress=False, experiments_dir=None, train=False):
    """Did the study reproduce? Rerun it into .cache/verify/ from the reference's trained models
    (or take --candidate) and compare with the committed results without overwriting
    anything; say which reference it used; exit 1 when an experiment is not reproduced."""
    from mia import config, pipeline, verify as verify_mod
    from mia.errors import UserError

    workers = whole_number(threads, "--threads")
    copy = pipeline.DEFAULT_CACHE / "verify-reference"
    if copy.exists():
        shutil.rmtree(copy)
    reference, which = _verify_reference(reference, quick, copy)
    print(f"reference: {which}")
    try:
        if candidate is None:
            # A fresh rerun in its own cache, seeded from the reference's trained models, so
            # that it starts from the reference's weights and not from a model trained here.
            scratch = pipeline.DEFAULT_CACHE / "verify"
            if scratch.exists():
                shutil.rmtree(scratch)
            candidate = scratch / "results"
            pipeline.run([only] if only else None, data_dir=data_dir, device=device, quick=quick,
                         results_root=candidate, cache_root=scratch / "cache",
                         progress=not no_progress, threads=workers, log=lambda *_: None,
                         reuse_root=reference, train=train,
                         experiments_dir=(Path(experiments_dir) if experiments_dir
                                          else config.EXPERIMENTS_DIR))
        verdicts = verify_mod.compare_trees(reference, Path(candidate), [only] if only else None)
    except UserError as e:
        raise Exit(f"error: {e}", code=2)
    except KeyboardInterrupt:
        raise Exit(INTERRUPTED, code=130) from None
    print(f"candidate: {candidate}")
    for v in verdicts:
        print(v.summary())
    if not all(v.reproduced for v in verdicts):
        raise Exit(code=1)


def _verify_reference(given: str | None, quick: bool, scratch: Path) -> tuple[Path, str]:
    """The results ``invoke verify`` compares against, and a line saying which they are: those
    given; else results/ as the repository's HEAD holds them (a run that rewrote results/
    cannot vouch for itself); else, where git has none, the working tree's."""
    from mia import manifest

    if given:
        return Path(given), f"{given} (given with --reference)"
    default = ROOT / "results" / "quick" if quick else ROOT / "results"
    committed = manifest.committed_copy(default, scratch)
    if committed is None:
        return default, f"{default} as it is on disk (git holds no committed version of it)"
    changed = (f"; the working tree's differs in {len(committed.differing)} files, e.g. "
               f"{committed.differing[0]}" if committed.differing else "")
    return committed.path, (f"{default.relative_to(ROOT)}/ as committed at "
                            f"{committed.commit[:12]} (copied to {committed.path}){changed}")


JPEG_COPY = ROOT / ".cache" / "data" / "cifar10-jpeg" / "cifar10.npz"


@task(help={
    "jpeg_copy": "rebuild the JPEG-decoded CIFAR-10 copy the committed results were made from",
    "sources": "folder of its sources (default .cache/data/jpeg-sources/; what is missing is "
               "downloaded)",
    "dest": f"where the copy goes (default {JPEG_COPY.relative_to(ROOT)})",
})
def data(c, jpeg_copy=False, sources=None, dest=None):
    """Obtain data the committed results need. ``--jpeg-copy``: download the three public
    sources (pinned by commit), rebuild the copy and check its sha256; then run
    ``make MIA_DATA_DIR=<dest>`` to reuse the committed models."""
    from mia import jpeg_copy as jc
    from mia.errors import UserError

    if not jpeg_copy:
        raise Exit("error: say what to obtain: --jpeg-copy", code=2)
    src = Path(sources) if sources else ROOT / ".cache" / "data" / "jpeg-sources"
    out = Path(dest) if dest else JPEG_COPY
    try:
        jc.download(src)
        jc.build(src, out)
    except UserError as e:
        raise Exit(f"error: {e}", code=2)
    print(f"next: make MIA_DATA_DIR={out}")


@task(help={"results_dir": "results to read (default results/)"})
def verdict(c, results_dir=None):
    """The reproduction verdict each experiment recorded when its results were written (the
    last step of `make`): a line each, then one for all; exit 1 if any was NOT REPRODUCED."""
    from mia import pipeline

    root = Path(results_dir) if results_dir else ROOT / "results"
    if not root.is_dir():
        raise Exit(f"error: no results folder {root}", code=2)
    lines, ok = pipeline.verdict_lines(root)
    print("\n".join(lines))
    if not ok:
        raise Exit(code=1)


@task(help={"k": "only tests matching this expression (pytest -k)"})
def test(c, k=None):
    """Run the test suite."""
    args = f" -k {k!r}" if k else ""
    c.run(f"{sys.executable} -m pytest -q{args}", pty=False)


@task
def clean(c):
    """Remove caches, quick results and build outputs (keeps results/ of full runs)."""
    for p in (ROOT / ".cache", ROOT / "results" / "quick", ROOT / "slides" / "build",
              ROOT / ".pytest_cache"):
        if p.exists():
            shutil.rmtree(p)
            print(f"removed {p.relative_to(ROOT)}")


@task(help={
    "quick": "build from results/quick/ (after `invoke experiments --quick`) into slides/build/quick/",
    "results_dir": "results to build from (default results/)",
    "no_pdf": "skip the PDF even when Chromium is available",
    "check_overflow": "check in headless Chromium that no slide's content is cut off",
    "presenter": "presenter line of the title slide (default: slides/deck.toml)",
    "date": "date on the title slide (default: slides/deck.toml, else when the results were made)",
})
def slides(c, quick=False, results_dir=None, no_pdf=False, check_overflow=True, presenter=None,
           date=None):
    """Render slides/deck.md from results/ and build slides/build/deck.html (and .pdf)."""
    from mia import deck
    from mia.errors import UserError

    try:
        deck.main(quick=quick, results_dir=Path(results_dir) if results_dir else None,
                  pdf=not no_pdf, check_overflow=check_overflow, presenter=presenter, date=date)
    except UserError as e:
        raise Exit(f"error: {e}", code=2)


@task(help={
    "device": "auto, cpu or cuda",
    "out": "JSON file to write (default results/bench/cpu-<cores>core.json or <gpu>.json)",
    "contended": "also time the trainer while another process spins one core",
    "steps": "timed steps per variant",
})
def bench(c, device="auto", out=None, contended=False, steps=None):
    """Throughput of the reference loop, the trainers, scoring and the attack (synthetic data);
    writes results/bench/<machine>.json and regenerates docs/performance.md."""
    import os

    import torch

    from mia import bench as bench_mod

    if out is None:
        on_gpu = device != "cpu" and torch.cuda.is_available()
        name = (torch.cuda.get_device_name().split()[-1].lower() if on_gpu
                else f"cpu-{os.cpu_count()}core")
        out = ROOT / "results" / "bench" / f"{name}.json"
    argv = ["--device", device, "--out", str(out)] + (["--contended"] if contended else [])
    bench_mod.main(argv + (["--steps", str(steps)] if steps else []))
    print(f"wrote {bench_mod.write_doc(ROOT)}")


@task(help={
    "data_dir": "CIFAR-10 as an .npz file or a torchvision folder (else $MIA_DATA_DIR, else download)",
    "out": "folder to write (default results/dp-tuning/)",
})
def dp_tuning(c, data_dir=None, out=None):
    """The search that chose DP-SGD's learning rate, clipping norm, batch size and epochs
    (mia.training.dp_tuning; about 30 minutes on 2 cores): results/dp-tuning/tuning.md. It
    resumes with the runs it has."""
    from mia.errors import UserError
    from mia.training import dp_tuning as tuning

    try:
        summary = tuning.search(Path(out) if out else ROOT / "results" / "dp-tuning", data_dir)
    except UserError as e:
        raise Exit(f"error: {e}", code=2)
    print(tuning.table(summary))


@task
def lock(c):
    """Regenerate requirements.txt, requirements-dev.txt and requirements-cluster.txt (exact
    versions with hashes) from pyproject.toml with pip-tools. Commit all three."""
    common = ("--generate-hashes --strip-extras --allow-unsafe --no-emit-index-url "
              "--no-emit-find-links --quiet")
    c.run(f"{sys.executable} -m piptools compile {common} -o requirements.txt pyproject.toml")
    c.run(f"{sys.executable} -m piptools compile {common} --extra dev -o requirements-dev.txt "
          f"pyproject.toml")
    # Ray's lock (`make cluster`): the same versions as the development set's, plus Ray
    c.run(f"{sys.executable} -m piptools compile {common} --extra cluster -c requirements-dev.txt "
          f"-o requirements-cluster.txt pyproject.toml")


@task(help={"keep": "reuse mutants/ from an earlier run (only retest what changed)"})
def mutate(c, keep=False):
    """Mutation testing (mutmut) of the modules that compute published numbers: plants small
    bugs in the files ``[tool.mutmut] only_mutate`` names in pyproject.toml (the metrics, the
    threshold and reference attacks, the calibrated evaluation, the scores, the report, the
    keep-matrices, the verdict and the manifest), runs their tests against each, and writes
    the score and every survivor to docs/mutation-testing.md."""
    import time

    from mia import mutation

    if not keep and (ROOT / "mutants").exists():
        shutil.rmtree(ROOT / "mutants")
    t0 = time.perf_counter()
    # mutmut forks a test process per mutant from a parent that has run the tests: an OpenMP
    # thread pool (PyTorch's, scikit-learn's) started there deadlocks or crashes the child,
    # which mutmut would count as a caught mutant. One thread each starts no pool.
    one_thread = {k: "1" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    c.run(f"{Path(sys.executable).parent / 'mutmut'} run", warn=True, hide="stdout", env=one_thread)
    results = c.run(f"{Path(sys.executable).parent / 'mutmut'} results --all true", hide=True).stdout
    print(f"wrote {mutation.write_report(ROOT, results, time.perf_counter() - t0)}")
