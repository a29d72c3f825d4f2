"""The one cache rule of every derived artifact, and atomic writes.

Every derived artifact (a run, an evaluation, a corruption table, a corrupted image set, an
executed chapter) is stored under a key that holds everything that determines it: its settings
and a digest of the code that computes it. The code digest covers the meaning of the code, not
its text: each module is parsed, its docstrings dropped, and the syntax tree hashed, so comments,
docstrings and formatting do not count. An artifact names the modules that compute it; their
digest covers those modules and every ``labelaug_core`` module they import, transitively
(package ``__init__`` files, which only re-export, are skipped). A change of the code therefore
gives a new key, the artifact is recomputed under it, and an artifact whose code did not change
keeps its key: nothing is ever deleted by hand. ``labelaug status`` lists what is stale and why.

Each cached file ``<stem>.<ext>`` has a sidecar ``<stem>.key.json`` written last (so its
presence marks a finished artifact) with the settings and the per-module code digests.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PACKAGE = "labelaug_core"
PACKAGE_DIR = Path(__file__).resolve().parent


# --- Atomic writes -----------------------------------------------------------------------------

def current_umask() -> int:
    """The process's umask, read without changing it where Linux says it (``/proc/self/status``);
    elsewhere set and restored at once."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder (never half-written).

    The file gets the mode that ``open()`` would give it (0666 less the umask), not ``mkstemp``'s
    0600: a run written by one user of a shared machine is readable by the others as the umask allows.
    On failure (no space, read-only, permission) the temporary file is removed and the OSError raised."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~current_umask())
            f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text_atomic(path: Path | str, text: str) -> None:
    write_bytes_atomic(path, text.encode())


def write_json_atomic(path: Path | str, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def settings_digest(settings: dict) -> str:
    """8 hex digits of a JSON-able dict's hash."""
    return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]


# --- Code digests --------------------------------------------------------------------------------

def module_path(module: str) -> Path:
    """The source file of a ``labelaug_core`` module (a package means its ``__init__.py``)."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        raise ValueError(f"module must be inside {PACKAGE}; got {module!r}")
    base = PACKAGE_DIR.joinpath(*parts[1:])
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


@functools.lru_cache(maxsize=512)
def _parsed(path: Path, stamp: tuple[int, int]) -> tuple[str, tuple[str, ...]]:
    """(meaning digest, imported labelaug_core modules) of one file; ``stamp`` keys the memo."""
    tree = ast.parse(path.read_text())
    imports: set[str] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                node.body = body[1:] or [ast.Pass()]
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == PACKAGE:
            for alias in node.names:  # `from labelaug_core.x import y`: y may be a module itself
                candidate = f"{node.module}.{alias.name}"
                imports.add(candidate if module_path(candidate).is_file() else node.module)
        elif isinstance(node, ast.Import):
            imports.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
    digest = hashlib.sha1(ast.dump(tree, include_attributes=False).encode()).hexdigest()[:12]
    return digest, tuple(sorted(imports))


def _file_info(module: str) -> tuple[str, tuple[str, ...]]:
    path = module_path(module)
    st = path.stat()
    return _parsed(path, (st.st_mtime_ns, st.st_size))


def module_closure(*modules: str) -> tuple[str, ...]:
    """``modules`` and every ``labelaug_core`` module they import, transitively, sorted.

    Package ``__init__`` modules are followed only when named directly (they re-export)."""
    seen: set[str] = set()
    todo = list(modules)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for imported in _file_info(module)[1]:
            if module_path(imported).name != "__init__.py":
                todo.append(imported)
    return tuple(sorted(seen))


def code_digests(*modules: str) -> dict[str, str]:
    """{module: 12-hex digest of its meaning} over :func:`module_closure` of ``modules``."""
    return {m: _file_info(m)[0] for m in module_closure(*modules)}


def code_digest(*modules: str) -> str:
    """One 12-hex digest of the code of ``modules`` and everything they import."""
    return hashlib.sha1(json.dumps(code_digests(*modules), sort_keys=True).encode()).hexdigest()[:12]


def changed_modules(recorded: dict[str, str]) -> list[str]:
    """The modules of a recorded ``{module: digest}`` whose code has changed (or is gone) since."""
    changed = []
    for module, digest in sorted(recorded.items()):
        try:
            now = _file_info(module)[0]
        except (OSError, SyntaxError, ValueError):
            now = None
        if now != digest:
            changed.append(module)
    return changed


# --- Cached artifacts ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Artifact:
    """A derived artifact: ``directory/<name>-<key><suffix>`` with its ``.key.json`` sidecar.

    ``settings``: JSON-able, everything besides code that determines it. ``code``: the modules
    that compute it (their import closure is digested). ``key`` = 10 hex digits over both.
    """

    directory: Path
    name: str
    settings: dict
    code: tuple[str, ...]

    @functools.cached_property
    def digests(self) -> dict[str, str]:
        return code_digests(*self.code)

    @property
    def key(self) -> str:
        return hashlib.sha1(json.dumps({"settings": self.settings, "code": self.digests},
                                       sort_keys=True).encode()).hexdigest()[:10]

    @property
    def stem(self) -> Path:
        return Path(self.directory) / f"{self.name}-{self.key}"

    def path(self, suffix: str) -> Path:
        return self.stem.with_name(self.stem.name + suffix)

    @property
    def sidecar(self) -> Path:
        return self.path(".key.json")

    def exists(self) -> bool:
        return self.sidecar.is_file()

    def mark_done(self, extra: dict | None = None) -> None:
        """Write the sidecar (last, atomically): the artifact is finished."""
        write_json_atomic(self.sidecar, {"name": self.name, "key": self.key, "settings": self.settings,
                                         "code": self.digests} | (extra or {}))


def cached_table(artifact: Artifact, compute: Callable[[], Any]):
    """``compute()``'s pandas table, stored as ``<stem>.csv`` under ``artifact``'s key and read back
    (never recomputed) while the key is unchanged."""
    import pandas as pd

    path = artifact.path(".csv")
    if artifact.exists() and path.is_file():
        return pd.read_csv(path)
    frame = compute()
    write_text_atomic(path, frame.to_csv(index=False))
    artifact.mark_done()
    return frame


def stale_sidecars(directory: Path | str) -> list[tuple[Path, list[str]]]:
    """Every ``*.key.json`` under ``directory`` whose code has changed: (sidecar, changed modules)."""
    out = []
    for sidecar in sorted(Path(directory).rglob("*.key.json")):
        try:
            recorded = json.loads(sidecar.read_text()).get("code", {})
        except (OSError, json.JSONDecodeError):
            out.append((sidecar, ["<unreadable sidecar>"]))
            continue
        changed = changed_modules(recorded)
        if changed:
            out.append((sidecar, changed))
    return out

