"""What a results folder says about how it was made (``manifest.json``): the git commit,
package versions, the device, the time, and the sha256 of each artifact."""
from __future__ import annotations

import io
import os
import platform
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from .errors import UserError
from .io import read_json, sha256_file
from .parallel import available_cpus

PACKAGES = ("torch", "torchvision", "numpy", "scipy", "scikit-learn", "matplotlib", "invoke",
            "tqdm", "jinja2")


# The paths whose modification makes a result's code differ from its commit ("code_dirty").
CODE_PATHS = ("mia", "experiments", "tasks.py", "pyproject.toml")
GIT_TIMEOUT_SECONDS = 10  # a hung git gives up; the manifest then records no commit


def git_commit(repo: Path, timeout: float = GIT_TIMEOUT_SECONDS) -> dict:
    """{"commit": HEAD's hash, "code_dirty": whether a tracked file under CODE_PATHS is
    modified}, both None where git is missing, fails or takes longer than ``timeout`` s."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                              timeout=timeout).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        # git status reads every argument after its options as a path (no "--" needed)
        dirty = bool(git("status", "--porcelain", "--untracked-files=no", *CODE_PATHS))
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "code_dirty": None}
    return {"commit": commit or None, "code_dirty": dirty}


@dataclass(frozen=True)
class CommittedCopy:
    """The repository's version of a folder, written out of git (``committed_copy``)."""

    path: Path             # where the copy lies
    commit: str            # the commit it came from (HEAD)
    differing: list[str]   # files of the working tree's folder that differ from it, or are new


def committed_copy(folder: Path, dest: Path, timeout: float = 120) -> CommittedCopy | None:
    """Write the version of ``folder`` that HEAD holds into ``dest`` (``dest/<its path in the
    repository>``). None where ``folder`` is not in a git work tree, git is missing or fails,
    or HEAD holds none of it (an ignored folder such as ``results/quick``)."""
    folder = Path(folder).resolve()

    def git(*args: str, text: bool = True, cwd: Path | None = None):
        return subprocess.run(["git", *args], cwd=cwd or top, capture_output=True, text=text,
                              timeout=timeout, check=True).stdout
    try:
        start = folder if folder.is_dir() else folder.parent
        top = Path(git("rev-parse", "--show-toplevel", cwd=start).strip())
        rel = folder.relative_to(top.resolve()).as_posix()
        commit = git("rev-parse", "HEAD").strip()
        if not git("ls-tree", "-r", "--name-only", commit, "--", rel).strip():
            return None
        archive = git("archive", "--format=tar", commit, "--", rel, text=False)
        differing = sorted(line[3:] for line in git("status", "--porcelain", "--untracked-files=all",
                                                     "--", rel).splitlines())
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")  # refuses links out of dest and absolute paths
    return CommittedCopy(dest / rel, commit, differing)


# Environment variables that choose the CPU code paths of PyTorch, oneDNN, MKL, NumPy, OpenBLAS.
CODE_PATH_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS",
                       "MKL_CBWR", "NPY_DISABLE_CPU_FEATURES", "OPENBLAS_CORETYPE")


def environment(device) -> dict:
    import torch  # here, not at the top: the manifest's other helpers stay torch-free

    versions = {"python": sys.version.split()[0]}
    for p in PACKAGES:
        try:
            versions[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            versions[p] = None
    dev = {"torch_device": str(device), "platform": platform.platform(),
           "processor": _cpu_model(), "cpu_vector_flags": _cpu_vector_flags(),
           "cpu_count": os.cpu_count(),
           "torch_threads": torch.get_num_threads(), "cpus_available": available_cpus(),
           # the vector code PyTorch's kernels run (not only what the CPU offers), and any
           # variable that forces another (as the cross-CPU test does)
           "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
           "forced_code_paths": {k: os.environ[k] for k in CODE_PATH_VARIABLES if k in os.environ}}
    if device.type == "cuda":
        dev["gpu"] = torch.cuda.get_device_name(device)
    return {"packages": versions, "device": dev}


CPUINFO = Path("/proc/cpuinfo")


def file_checksums(folder: Path, names) -> dict[str, str]:
    """{name: sha256 of ``folder / name``} for each of ``names`` (paths relative to the
    folder) that exists, in the order given."""
    return {name: sha256_file(folder / name) for name in names if (folder / name).exists()}


def keep_recorded(final: Path, staging: Path, key_field: str, key: str, wanted) -> list[str]:
    """Copy into ``staging`` the files of ``final`` that ``wanted(name)`` selects among those its
    manifest records (``files``), when that manifest's ``key_field`` is ``key`` and each file is
    the one it records (sha256); return their names. Otherwise copy nothing and return []."""
    try:
        manifest = read_json(final / "manifest.json")
    except (OSError, ValueError):
        return []
    if not isinstance(manifest, dict) or manifest.get(key_field) != key:
        return []
    recorded = {n: sha for n, sha in (manifest.get("files") or {}).items() if wanted(n)}
    if not recorded or any(not (final / n).is_file() or sha256_file(final / n) != sha
                           for n, sha in recorded.items()):
        return []
    for n in recorded:
        (staging / n).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(final / n, staging / n)
    return list(recorded)


def check_recorded(folder: Path, names, remedy: str) -> None:
    """Stop (UserError, one line) at the first of ``names`` (paths relative to ``folder``)
    whose sha256 differs from the one ``folder/manifest.json`` records: a result edited since
    it was written is never reused. A name the manifest does not record (results written
    before it recorded checksums) is not checked; an unreadable manifest stops the run too.
    ``remedy``: what the user can do instead."""
    try:
        recorded = read_json(folder / "manifest.json").get("files", {})
    except (OSError, ValueError, AttributeError) as e:
        raise UserError(f"{folder / 'manifest.json'} is missing or unreadable ({type(e).__name__}), so "
                        f"{folder}'s files cannot be checked; {remedy}") from None
    for name in names:
        want = recorded.get(name)
        if want is not None and (not (folder / name).is_file() or sha256_file(folder / name) != want):
            raise UserError(f"{folder / name} is not the file its manifest records (sha256 "
                            f"{want[:12]}...); {remedy}")


def _cpuinfo_field(cpuinfo: Path, key: str) -> str | None:
    """The value of the first ``key`` line of a /proc/cpuinfo file (after its first colon,
    stripped); None where the file or the line is missing."""
    try:
        lines = cpuinfo.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith(key):
            return line.partition(":")[2].strip()
    return None


def _cpu_model(cpuinfo: Path = CPUINFO) -> str:
    model = _cpuinfo_field(cpuinfo, "model name")
    return platform.processor() if model is None else model


def _cpu_vector_flags(cpuinfo: Path = CPUINFO) -> list[str]:
    """The CPU's vector instruction sets (avx*, amx*, fma): PyTorch picks float32 kernels by
    them, so two CPUs with the same model name can round differently (README, the verdict)."""
    flags = _cpuinfo_field(cpuinfo, "flags")
    if flags is None:
        return []
    return sorted(f for f in flags.split() if f.startswith(("avx", "amx", "fma")))


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
