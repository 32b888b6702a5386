"""What a manifest records (mia.manifest): the sha256 of each artifact, the git commit and
whether the code was modified, the CPU's model and vector flags, the packages and the code
paths forced. Fast: mutation testing runs this file."""
import hashlib
import json
import os
import platform
import re
import subprocess

import pytest
import torch

from mia import manifest
from mia.errors import UserError
from mia.parallel import available_cpus


def test_file_checksums_hash_each_named_file_that_exists(tmp_path):
    (tmp_path / "bank").mkdir()
    (tmp_path / "a.json").write_bytes(b"alpha")
    (tmp_path / "bank" / "keep.npz").write_bytes(b"beta")
    (tmp_path / "other.txt").write_bytes(b"not named")
    got = manifest.file_checksums(tmp_path, ("bank/keep.npz", "missing.pt", "a.json"))
    assert got == {"bank/keep.npz": hashlib.sha256(b"beta").hexdigest(),
                   "a.json": hashlib.sha256(b"alpha").hexdigest()}
    assert list(got) == ["bank/keep.npz", "a.json"]  # the order given


def _git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t", "HOME": str(repo), "PATH": "/usr/bin:/bin"})


def test_git_commit_and_whether_the_code_was_modified(tmp_path):
    repo = tmp_path / "repo"
    (repo / "mia").mkdir(parents=True)
    (repo / "docs").mkdir()
    for f in ("mia/x.py", "docs/notes.md", "tasks.py"):
        (repo / f).write_text("1\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "c")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                          text=True).stdout.strip()
    assert manifest.git_commit(repo) == {"commit": head, "code_dirty": False}
    (repo / "docs" / "notes.md").write_text("2\n")       # not code
    (repo / "mia" / "new.py").write_text("untracked\n")  # untracked: not counted
    assert manifest.git_commit(repo)["code_dirty"] is False
    (repo / "tasks.py").write_text("2\n")
    assert manifest.git_commit(repo) == {"commit": head, "code_dirty": True}
    assert manifest.git_commit(tmp_path / "nowhere") == {"commit": None, "code_dirty": None}
    for path in manifest.CODE_PATHS:  # a change under each code path counts
        file = repo / path if "." in path else repo / path / "f.py"
        file.parent.mkdir(exist_ok=True)
        file.write_text("1\n")
        _git(repo, "add", ".")
        _git(repo, "commit", "-qm", path)
        assert manifest.git_commit(repo)["code_dirty"] is False, path
        file.write_text("2\n")
        assert manifest.git_commit(repo)["code_dirty"] is True, path
        _git(repo, "checkout", "--", ".")
    plain = tmp_path / "plain"
    plain.mkdir()
    assert manifest.git_commit(plain)["commit"] is None


def test_a_hung_git_gives_up_and_records_no_commit(tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "git"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nsleep 3\n")  # without a timeout: 3 s, then no output
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    assert manifest.git_commit(tmp_path, timeout=0.2) == {"commit": None, "code_dirty": None}


CPUINFO = """processor\t: 0
model name\t: Example CPU 9000 @ 3.0GHz
flags\t\t: fpu sse2 avx2 fma avx512f avx512_vnni amx_tile bmi2
processor\t: 1
model name\t: Example CPU 9000 @ 3.0GHz
flags\t\t: fpu sse2 avx2 fma
"""


def test_the_cpu_model_and_vector_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text(CPUINFO)
    assert manifest._cpu_model(info) == "Example CPU 9000 @ 3.0GHz"
    assert manifest._cpu_vector_flags(info) == ["amx_tile", "avx2", "avx512_vnni", "avx512f", "fma"]
    info.write_text("model name\t: Vendor CPU: rev 3 @ 2.0GHz\nflags\t: avx2 sse4_2\n")
    assert manifest._cpu_model(info) == "Vendor CPU: rev 3 @ 2.0GHz"  # after the first colon
    missing = tmp_path / "none"
    assert manifest._cpu_vector_flags(missing) == []
    assert isinstance(manifest._cpu_model(missing), str)
    info.write_text("processor\t: 0\n")
    assert manifest._cpu_vector_flags(info) == []


def test_environment_records_packages_threads_and_forced_code_paths(monkeypatch):
    from importlib import metadata
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    monkeypatch.delenv("MKL_CBWR", raising=False)
    env = manifest.environment(torch.device("cpu"))
    assert list(env["packages"]) == ["python", *manifest.PACKAGES]
    assert env["packages"]["numpy"] == metadata.version("numpy")
    dev = env["device"]
    assert dev["torch_device"] == "cpu" and dev["torch_threads"] == torch.get_num_threads()
    assert dev["forced_code_paths"] == {"ATEN_CPU_CAPABILITY": "avx2"}
    assert dev["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert "gpu" not in dev
    assert env["packages"]["python"] == platform.python_version()
    assert set(dev) == {"torch_device", "platform", "processor", "cpu_vector_flags", "cpu_count",
                        "torch_threads", "cpus_available", "torch_cpu_capability",
                        "forced_code_paths"}
    assert dev["platform"] == platform.platform() and dev["cpu_count"] == os.cpu_count()
    assert dev["processor"] == manifest._cpu_model()
    assert dev["cpu_vector_flags"] == manifest._cpu_vector_flags()
    assert dev["cpus_available"] == available_cpus()


def test_environment_records_a_missing_package_as_none_and_the_gpu_by_name(monkeypatch):
    monkeypatch.setattr(manifest, "PACKAGES", ("numpy", "no-such-package-mia"))
    asked = []
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d: asked.append(d) or "Example GPU")

    class Cuda:
        type = "cuda"

    device = Cuda()
    env = manifest.environment(device)
    assert env["packages"]["no-such-package-mia"] is None
    assert env["device"]["gpu"] == "Example GPU" and asked == [device]


def test_now_is_utc_to_the_second():
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", manifest.now())


@pytest.mark.parametrize("name", manifest.CODE_PATH_VARIABLES)
def test_every_code_path_variable_is_recorded(monkeypatch, name):
    for other in manifest.CODE_PATH_VARIABLES:
        monkeypatch.delenv(other, raising=False)
    monkeypatch.setenv(name, "x")
    assert manifest.environment(torch.device("cpu"))["device"]["forced_code_paths"] == {name: "x"}


def test_a_folder_is_checked_against_the_checksums_its_manifest_records(tmp_path):
    (tmp_path / "bank").mkdir()
    for name, data in (("model.pt", b"weights"), ("bank/keep.npz", b"keep"), ("notes.md", b"n")):
        (tmp_path / name).write_bytes(data)
    (tmp_path / "manifest.json").write_text(json.dumps({"files": manifest.file_checksums(
        tmp_path, ("model.pt", "bank/keep.npz"))}))
    manifest.check_recorded(tmp_path, ("model.pt", "bank/keep.npz", "notes.md"), "do X")  # notes: not recorded
    (tmp_path / "bank" / "keep.npz").write_bytes(b"keeP")
    want = hashlib.sha256(b"keep").hexdigest()[:12]
    with pytest.raises(UserError, match=re.escape(
            f"{tmp_path / 'bank/keep.npz'} is not the file its manifest records (sha256 {want}...); do X")):
        manifest.check_recorded(tmp_path, ("model.pt", "bank/keep.npz"), "do X")
    manifest.check_recorded(tmp_path, ("model.pt",), "do X")  # only the names asked for
    (tmp_path / "model.pt").unlink()
    with pytest.raises(UserError, match=r"model.pt is not the file its manifest records"):
        manifest.check_recorded(tmp_path, ("model.pt",), "do X")
    (tmp_path / "manifest.json").write_text("{}")  # results from before checksums: nothing to check
    manifest.check_recorded(tmp_path, ("model.pt", "notes.md"), "do X")
    for text, kind in (("{", "JSONDecodeError"), ("[1]", "AttributeError")):
        (tmp_path / "manifest.json").write_text(text)
        with pytest.raises(UserError, match=re.escape(
                f"{tmp_path / 'manifest.json'} is missing or unreadable ({kind}), so {tmp_path}'s "
                f"files cannot be checked; do X")):
            manifest.check_recorded(tmp_path, ("notes.md",), "do X")


def test_the_committed_copy_is_heads_version_and_names_what_the_working_tree_changed(tmp_path):
    import subprocess

    repo = tmp_path / "repo"
    (repo / "results" / "exp").mkdir(parents=True)
    (repo / "results" / "exp" / "metrics.json").write_text("committed")
    (repo / ".gitignore").write_text("results/quick/\n")
    (repo / "results" / "quick").mkdir()
    (repo / "results" / "quick" / "x").write_text("ignored")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "results"], cwd=repo, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True
                          ).stdout.strip()
    (repo / "results" / "exp" / "metrics.json").write_text("rewritten by a run")
    (repo / "results" / "exp" / "new.json").write_text("new")
    copy = manifest.committed_copy(repo / "results", tmp_path / "copy")
    assert copy.path == tmp_path / "copy" / "results" and copy.commit == head
    assert (copy.path / "exp" / "metrics.json").read_text() == "committed"
    assert not (copy.path / "exp" / "new.json").exists()
    assert copy.differing == ["results/exp/metrics.json", "results/exp/new.json"]
    # an ignored folder, a folder outside any repository: no committed version
    assert manifest.committed_copy(repo / "results" / "quick", tmp_path / "c2") is None
    outside = tmp_path / "outside"
    outside.mkdir()
    assert manifest.committed_copy(outside, tmp_path / "c3") is None
