"""``invoke bench``: training, scoring and attack throughput on synthetic CIFAR-shaped data,
and docs/performance.md generated from the results.

- ``synthetic``: the synthetic CIFAR-shaped images and the K-model keep-matrix trained on.
- ``timing``: how a measurement is taken (device-synchronized seconds, samples/s after a
  warm-up, cuDNN's autotuner around one measurement, a failure recorded, not raised).
- ``runners``: what is timed: the reference loop, the single-model and many-models trainers,
  the bank trainer against the anchor, the CPU step profile, scoring and the attack stage.
- ``gpu_targets``: the 100-epoch GPU targets (``--full``), every K-model strategy.
- ``contended``: the trainer idle and beside a spinning process (``--contended``).
- ``tables``: the printed table of a run and the one-line round summaries.
- ``targets``: the performance targets and each bench file's verdict on them.
- ``study_summary``: the experiments' stage times from ``results/*/manifest.json``.
- ``doc``: docs/performance.md (``write_doc``), from results/bench/*.json; times nothing.
- ``cli``: ``main(argv)``, the command line (``python -m mia.bench``), writing the JSON and
  results/bench/manifest.json.
"""
from .cli import main
from .doc import performance_doc, write_doc
from .synthetic import N_TEST, N_TRAIN
from .timing import with_cudnn_autotuner

__all__ = ["main", "write_doc", "performance_doc", "with_cudnn_autotuner", "N_TRAIN", "N_TEST"]
