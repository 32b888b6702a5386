"""Atomic file writes and small helpers for the results tree.

Every file is written to a temporary name in the same directory and then moved into
place with ``os.replace`` (atomic on POSIX), so an interrupted run never leaves a
half-written file behind.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
import tomllib
import zipfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from . import locations
from .errors import UserError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~UMASK)  # mkstemp makes 0600; files get what the umask allows
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it; done once, at import, before any thread
    os.umask(mask)
    return mask


UMASK = _read_umask()


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n")


def read_toml(path: str | os.PathLike, what: str) -> dict:
    """A TOML file's top table. A missing, unreadable, non-UTF-8 or malformed file is one
    UserError naming ``what`` ("experiment file", "study file") and the path."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{what} not found: {path}") from None
    except UnicodeDecodeError as e:
        raise UserError(f"{what} {path} is not UTF-8 text (byte {e.start}: {e.object[e.start]:#04x})"
                        ) from None
    except OSError as e:
        raise UserError(f"cannot read {what} {path} ({e.strerror})") from None
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"malformed TOML in {path}: {e}") from None


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


class FileFailed(UserError):
    """A results or cache file that is missing, unreadable, or lacks what its reader needs;
    the message is one line naming the file and the problem."""


def schema_problem(obj: Any, schema: Any, where: str = "") -> str | None:
    """What ``obj`` lacks of ``schema``, in words, or None.

    A schema is a type (``dict``, ``list``, ``str``; ``float`` accepts an integer), a tuple
    of types (``(float, type(None))``), or a dict {key: schema} of keys the object must
    have (others may be there)."""
    here = where or "the file"
    if isinstance(schema, dict):
        if not isinstance(obj, dict):
            return f"{here} is {_kind(obj)}, not an object"
        for key, sub in schema.items():
            inner = f"{where}.{key}" if where else str(key)
            if key not in obj:
                return f"{inner} is missing"
            problem = schema_problem(obj[key], sub, inner)
            if problem:
                return problem
        return None
    types = schema if isinstance(schema, tuple) else (schema,)
    wanted = types + ((int,) if float in types else ())
    if isinstance(obj, bool) and bool not in types or not isinstance(obj, wanted):
        return f"{here} is {_kind(obj)}, not {' or '.join(_kind_of(t) for t in types)}"
    return None


def _kind(obj: Any) -> str:
    return "null" if obj is None else _kind_of(type(obj))


def _kind_of(t: type) -> str:
    return {dict: "an object", list: "a list", str: "text", float: "a number", int: "a whole number",
            bool: "true/false", type(None): "null"}.get(t, t.__name__)


def read_checked(path: str | os.PathLike, schema: Any, remedy: str,
                 what: str = "results file") -> Any:
    """A JSON file that holds what ``schema`` asks (``schema_problem``): the one way the
    project reads a results or cache file it depends on. Anything else is a FileFailed, one
    line naming ``what`` and the file, what is wrong, and ``remedy``."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileFailed(f"{what} {path} is missing; {remedy}") from None
    except UnicodeDecodeError as e:
        raise FileFailed(f"corrupt {what} {path}: not UTF-8 text (byte {e.start}); {remedy}"
                         ) from None
    except OSError as e:
        raise FileFailed(f"cannot read {what} {path} ({e.strerror}); {remedy}") from None
    except ValueError as e:
        raise FileFailed(f"corrupt {what} {path}: not valid JSON ({e}); {remedy}") from None
    problem = schema_problem(obj, schema)
    if problem:
        raise FileFailed(f"corrupt {what} {path}: {problem}; {remedy}")
    return obj


def read_arrays(path: str | os.PathLike, names: tuple[str, ...], remedy: str,
                what: str = "results file") -> dict[str, np.ndarray]:
    """The arrays ``names`` of an .npz file (never pickled objects), each one-dimensional and
    all of one length. Anything else is a FileFailed, one line naming ``what``, the file, the
    problem and ``remedy``."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [n for n in names if n not in f.files]
            if missing:
                raise FileFailed(f"corrupt {what} {path}: no array {missing[0]!r} (it holds "
                                 f"{', '.join(f.files) or 'none'}); {remedy}")
            arrays = {n: f[n] for n in names}
    except FileNotFoundError:
        raise FileFailed(f"{what} {path} is missing; {remedy}") from None
    except FileFailed:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
        raise FileFailed(f"corrupt {what} {path}: not a readable .npz "
                         f"({str(e).splitlines()[0] if str(e) else type(e).__name__}); {remedy}"
                         ) from None
    lengths = {len(a) if a.ndim == 1 else -1 for a in arrays.values()}
    if len(lengths) != 1 or -1 in lengths:
        shapes = ", ".join(f"{n} {a.shape}" for n, a in arrays.items())
        raise FileFailed(f"corrupt {what} {path}: arrays of one length expected, got {shapes}; "
                         f"{remedy}")
    return arrays


def read_npz(path: str | os.PathLike, required: tuple[str, ...], remedy: str,
             what: str = "results file") -> dict[str, np.ndarray]:
    """Every array of an .npz file (never pickled objects), which must hold ``required``: a
    FileFailed, one line, for anything else. Shapes are the reader's to check."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {n: f[n] for n in f.files}
    except FileNotFoundError:
        raise FileFailed(f"{what} {path} is missing; {remedy}") from None
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
        raise FileFailed(f"corrupt {what} {path}: not a readable .npz "
                         f"({str(e).splitlines()[0] if str(e) else type(e).__name__}); {remedy}"
                         ) from None
    missing = [n for n in required if n not in arrays]
    if missing:
        raise FileFailed(f"corrupt {what} {path}: no array {missing[0]!r} (it holds "
                         f"{', '.join(arrays) or 'none'}); {remedy}")
    return arrays


CHECKSUMS_FILE = "checksums.json"  # in a cache folder: {file name: sha256 as written}


def recorded_checksums(folder: Path, log) -> dict[str, str]:
    """``folder``'s CHECKSUMS_FILE; an unreadable one is removed with a warning (its files
    are then checked from their contents, and recorded again as they are)."""
    path = Path(folder) / CHECKSUMS_FILE
    if not path.exists():
        return {}
    try:
        recorded = read_json(path)
        if isinstance(recorded, dict) and all(isinstance(v, str) for v in recorded.values()):
            return recorded
    except (OSError, ValueError):
        pass
    log(f"warning: unreadable {path}; the files of {folder} are checked again from their contents")
    path.unlink()
    return {}


def record_checksum(folder: Path, name: str, log) -> None:
    """Record the sha256 of ``folder/name`` as just written."""
    recorded = recorded_checksums(folder, log)
    recorded[name] = sha256_file(Path(folder) / name)
    write_json(Path(folder) / CHECKSUMS_FILE, recorded)


def unchanged_since_written(folder: Path, name: str, log) -> bool:
    """False, with a warning, where ``folder/name``'s bytes differ from the sha256 recorded when
    it was written; a file with no record (a cache from before the records) is recorded as it
    is. A missing file is not unchanged."""
    path = Path(folder) / name
    if not path.exists():
        return False
    want = recorded_checksums(folder, log).get(name)
    if want is None:
        record_checksum(folder, name, log)
        return True
    if sha256_file(path) == want:
        return True
    log(f"warning: {path} changed since it was written (sha256); not using it")
    return False


def write_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    write_bytes(path, buf.getvalue())


def write_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    write_bytes(path, buf.getvalue())


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_json(obj: Any) -> str:
    """Hash of a JSON-serialisable object, independent of key order."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def replace_directory(staging: Path, final: Path, log=print) -> None:
    """Move a fully written ``staging`` directory onto ``final``.

    The old ``final`` is renamed aside first and removed only after the new one is in
    place, so at every instant either the complete old or the complete new results exist
    (a kill between the two renames is repaired by ``recover_swap`` at the next start). An
    old folder that cannot be removed (read-only) is left aside under a unique name, with a
    warning, so that it never blocks a later swap.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    old = _old(final)
    if old.exists():
        _remove_or_set_aside(old, log)
    if final.exists():
        os.replace(final, old)
    _after_first_rename()
    os.replace(staging, final)
    if old.exists():
        _remove_or_set_aside(old, log)


def _old(final: Path) -> Path:
    return final.with_name(f".{final.name}.old")


def _after_first_rename() -> None:
    """Test hook: the fault suite replaces this to kill a run between the swap's renames."""


def _remove_or_set_aside(path: Path, log) -> None:
    try:
        shutil.rmtree(path)
    except OSError as e:
        aside = path.with_name(f"{path.name}-{os.getpid()}-{time.time_ns()}")
        os.replace(path, aside)
        log(f"warning: could not remove the previous results {path} ({e.strerror}); left them "
            f"at {aside}")


def recover_swap(final: Path, log=print) -> None:
    """Finish or undo a swap that a killed run left half done (see ``replace_directory``).

    ``final`` missing, ``.old`` present: if the staging folder is complete (its manifest is
    written last), it is moved in; otherwise the old results are restored. A stray staging
    folder is removed; a leftover ``.old`` beside a present ``final`` too.
    """
    old, staging = _old(final), final.with_name(f".{final.name}.staging")
    if not final.exists() and old.exists():
        if (staging / "manifest.json").is_file():
            os.replace(staging, final)
            log(f"recovered {final}: finished the swap an interrupted run left half done")
        else:
            os.replace(old, final)
            log(f"recovered {final}: restored the previous results an interrupted run had moved aside")
    if staging.exists():
        shutil.rmtree(staging)
    if old.exists():
        _remove_or_set_aside(old, log)


def code_version(paths) -> str:
    """sha256 of the Python sources under ``paths`` (relative to the repository), in order:
    what a cached or committed result was computed by (``locations.REPO`` read at each call)."""
    repo = locations.REPO
    h = hashlib.sha256()
    for rel in paths:
        root = repo / rel
        for f in sorted(root.rglob("*.py")) if root.is_dir() else [root]:
            h.update(f.relative_to(repo).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()
