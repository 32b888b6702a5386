"""The package's shape, checked: the layers and the torch-free modules (import-linter, its
contracts in pyproject.toml), no import cycle, no import of a mia module hidden inside a
function, the torch-free modules importable without torch, no module over MAX_LINES, and lint."""
import ast
import subprocess
import sys
import tomllib

import grimp

from conftest import ROOT

MAX_LINES = 500
PACKAGE = ROOT / "mia"
BIN = __import__("pathlib").Path(sys.executable).parent


def _modules() -> dict[str, __import__("pathlib").Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _contracts() -> list[dict]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def test_import_linter_contracts_are_kept():
    proc = subprocess.run([str(BIN / "lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_every_module_is_in_a_layer():
    """A new module cannot escape the layers contract by not being named in it."""
    (layers,) = [c["layers"] for c in _contracts() if c["type"] == "layers"]
    named = {m.strip() for layer in layers for m in layer.replace(":", "|").split("|")}
    for module in MODULES:
        if module == "mia":
            continue
        top = ".".join(module.split(".")[:2])
        assert top in named, f"{module} is in no layer of pyproject.toml's layers contract"


def _cycles(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), imports inside
    functions included."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.find_modules_directly_imported_by(v) & modules:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for m in sorted(modules):
        if m not in index:
            visit(m)
    return out


def test_no_import_cycle_anywhere_in_the_package():
    graph = grimp.build_graph("mia", cache_dir=None)
    assert _cycles(graph, set(graph.modules)) == []


def test_the_cycle_finder_finds_a_cycle():
    """The check above can fail: two modules that import each other form one."""
    graph = grimp.ImportGraph()
    for m in ("a", "b", "c"):
        graph.add_module(m)
    graph.add_import(importer="a", imported="b")
    graph.add_import(importer="b", imported="a")
    graph.add_import(importer="b", imported="c")
    assert _cycles(graph, {"a", "b", "c"}) == [["a", "b"]]


def _function_local_imports(path) -> list[str]:
    """Imports of mia modules (relative or absolute) inside a function or method."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and (inner.level or (inner.module or "").startswith("mia")):
                    found.append(f"{path.relative_to(ROOT)}:{inner.lineno}")
                elif isinstance(inner, ast.Import) and any(a.name.startswith("mia") for a in inner.names):
                    found.append(f"{path.relative_to(ROOT)}:{inner.lineno}")
    return found


def test_no_mia_module_is_imported_inside_a_function():
    """Such an import hides a dependency from the layer check, or dodges a cycle."""
    found = [hit for path in MODULES.values() for hit in _function_local_imports(path)]
    assert found == []


# The modules that may import torch: the models, the recipes, the scores from logits, the
# experiment config (it validates their names), training, the pipeline, the benchmarks.
TORCH_MODULES = ("mia.architectures", "mia.recipes", "mia.scores", "mia.config", "mia.config_checks", "mia.membership", "mia.training",
                 "mia.pipeline", "mia.bench")
BLOCK_TORCH = """
import importlib, sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision"):
            raise ImportError(f"torch is blocked in this test: {name}")
sys.meta_path.insert(0, NoTorch())
for name in sys.argv[1:]:
    importlib.import_module(name)
assert not any(m.split(".")[0] == "torch" for m in sys.modules)
"""


def torch_free_modules() -> list[str]:
    return [m for m in MODULES if m != "mia" and not any(
        m == t or m.startswith(t + ".") for t in TORCH_MODULES) and not m.endswith("__main__")]


def test_torch_free_modules_import_with_torch_unimportable():
    names = torch_free_modules()
    assert "mia.evaluation.calibrated" in names and "mia.attacks.rmia" in names
    proc = subprocess.run([sys.executable, "-c", BLOCK_TORCH, *names], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_the_torch_block_blocks_torch():
    proc = subprocess.run([sys.executable, "-c", BLOCK_TORCH, "mia.training.engine"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "torch is blocked" in proc.stderr


def test_no_module_is_over_the_size_limit():
    sizes = {m: len(p.read_text().splitlines()) for m, p in MODULES.items()}
    assert {m: n for m, n in sizes.items() if n > MAX_LINES} == {}


def test_ruff_finds_nothing():
    proc = subprocess.run([str(BIN / "ruff"), "check", "mia", "tests", "tasks.py"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:]
