"""The book: run an experiment plan, execute the chapter notebooks, build the HTML.

An experiment plan is ``experiments/<profile>.yaml``::

    description: one line shown in the progress output
    settings:            # TrainConfig fields shared by every run, also given to every notebook
      dataset: fashion-mnist
      epochs: 10
    seeds: [0, 1]        # every run below is trained once per seed
    runs:                # grids: each field is a value or a list; every combination is a run
      - {method: [std, adv, advplus]}
      - {method: advplus, delta: [0.0, 0.01, 0.1, 0.3]}
    notebooks:           # extra papermill parameters per chapter (keyed by notebook name)
      05_delta_explorer: {deltas: [0.0, 0.01, 0.03, 0.1, 0.3]}

The chapters are the ``book/NAME`` entries of ``_toc.yml`` whose source is
``notebooks/NAME.ipynb``, in the toc's order. Each is executed with papermill into
``book/NAME.ipynb``; it gets, among ``settings`` and ``seeds`` and ``runs_dir`` (absolute path),
``data_dir``, ``profile`` and its own ``notebooks`` entry, the parameters that its
``parameters`` cell declares. A notebook that reads runs (declares ``runs_dir``) must declare
every ``settings`` field, so that it looks up exactly the runs the plan trained (with
:func:`labelaug_core.runs.find_runs`).

An executed notebook is reused while its stamp (``book/NAME.stamp.json``: hashes of the
notebook source, its parameters, the metrics of the runs it reads and the library sources)
is unchanged. The HTML is built by Jupyter Book with warnings as errors and never executes
anything (``execute_notebooks: "off"`` in ``_config.yml``).
"""
from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from tqdm.auto import tqdm

from labelaug_core import __version__
from labelaug_core.config import TrainConfig
from labelaug_core.errors import ConfigError

PLAN_KEYS = ("description", "settings", "seeds", "runs", "notebooks")
# Papermill parameters every notebook may declare besides the settings fields.
COMMON_PARAMETERS = ("profile", "seeds", "runs_dir", "data_dir", "results_dir")
RESULTS_DIR = Path("benchmarks") / "results"  # `labelaug bench` JSON files, read by the performance chapter
STATIC_DIR = Path("book") / "_static_js"  # html_static_path in _config.yml
# (source under node_modules, destination under STATIC_DIR): the widget and math JavaScript
# the site serves itself. _config.yml names these destinations (nb_ipywidgets_js, mathjax_path).
STATIC_ASSETS = (
    ("requirejs/require.js", "jupyter-widgets/require.js"),
    ("@jupyter-widgets/html-manager/dist/embed-amd.js", "jupyter-widgets/embed-amd.js"),
    ("mathjax/es5/tex-chtml-full.js", "mathjax/tex-chtml-full.js"),
    ("mathjax/LICENSE", "mathjax/LICENSE"),
)
# Fonts that embed-amd.js and MathJax load relative to their own location.
STATIC_FONT_DIRS = (
    ("@jupyter-widgets/html-manager/dist", "jupyter-widgets", ("*.woff2", "*.woff", "*.ttf", "*.eot", "*.svg")),
    ("mathjax/es5/output/chtml/fonts/woff-v2", "mathjax/output/chtml/fonts/woff-v2", ("*.woff",)),
)


class BookError(RuntimeError):
    """The book could not be built (a notebook failed, assets are missing, Sphinx warned)."""


@dataclass(frozen=True)
class Plan:
    """An experiment plan read from ``experiments/<profile>.yaml`` (see the module docstring)."""

    profile: str
    description: str
    settings: dict[str, Any]
    seeds: list[int]
    runs: list[TrainConfig]                     # distinct runs, in plan order
    chapters: list[str]                         # notebook names, in toc order
    notebook_parameters: dict[str, dict[str, Any]] = field(default_factory=dict)


def available_profiles(root: Path = Path(".")) -> list[str]:
    """Profile names: the ``experiments/*.yaml`` files under ``root``."""
    return sorted(p.stem for p in (Path(root) / "experiments").glob("*.yaml"))


def toc_files(root: Path = Path(".")) -> list[str]:
    """Every ``file:`` of ``_toc.yml`` (the root first), in reading order, without suffix."""
    toc = yaml.safe_load((Path(root) / "_toc.yml").read_text())
    found = [toc["root"]]

    def walk(entries: list[dict]) -> None:
        for entry in entries:
            if "file" in entry:
                found.append(entry["file"])
            for key in ("parts", "chapters", "sections"):
                walk(entry.get(key, []))

    walk([toc])
    return [str(Path(f).with_suffix("")) if Path(f).suffix in (".md", ".ipynb") else f for f in found]


def toc_chapters(root: Path = Path(".")) -> list[str]:
    """Names of the toc entries ``book/NAME`` that are executed from ``notebooks/NAME.ipynb``."""
    root = Path(root)
    chapters = []
    for entry in toc_files(root):
        name = Path(entry).name
        if (root / "notebooks" / f"{name}.ipynb").is_file():
            if Path(entry).parent != Path("book"):
                raise ConfigError(f"_toc.yml: notebook chapter {entry!r} must be listed as book/{name}")
            chapters.append(name)
        elif not (root / f"{entry}.md").is_file():
            raise ConfigError(f"_toc.yml: {entry!r} is neither notebooks/{name}.ipynb nor {entry}.md")
    return chapters


def _grid(entry: dict[str, Any]) -> list[dict[str, Any]]:
    keys = list(entry)
    values = [v if isinstance(v, list) else [v] for v in entry.values()]
    return [dict(zip(keys, combo)) for combo in itertools.product(*values)]


def load_plan(profile: str, root: Path = Path(".")) -> Plan:
    """Read and validate ``experiments/<profile>.yaml``; raises ConfigError naming the bad entry."""
    root = Path(root)
    profiles = available_profiles(root)
    if profile not in profiles:
        raise ConfigError(f"profile must be one of {', '.join(profiles) or '(none in experiments/)'}; got {profile!r}")
    where = f"experiments/{profile}.yaml"
    raw = yaml.safe_load((root / "experiments" / f"{profile}.yaml").read_text()) or {}
    unknown = sorted(set(raw) - set(PLAN_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(PLAN_KEYS)}")
    settings = dict(raw.get("settings") or {})
    seeds = list(raw.get("seeds") or [0])
    if not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise ConfigError(f"{where}: seeds must be a list of integers >= 0; got {seeds}")
    runs: dict[str, TrainConfig] = {}
    for i, entry in enumerate(raw.get("runs") or []):
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: runs[{i}] must be a mapping of config fields to values or lists")
        for combo in _grid(entry):
            for seed in ([combo["seed"]] if "seed" in combo else seeds):
                try:
                    config = TrainConfig.from_dict(settings | combo | {"seed": seed}).resolved()
                except ConfigError as exc:
                    raise ConfigError(f"{where}: runs[{i}]: {exc}") from exc
                runs.setdefault(config.run_id, config)
    chapters = toc_chapters(root)
    per_notebook = dict(raw.get("notebooks") or {})
    for name in per_notebook:
        if name not in chapters:
            raise ConfigError(f"{where}: notebooks: {name!r} is not a chapter of _toc.yml; chapters: {', '.join(chapters)}")
    return Plan(profile, str(raw.get("description", profile)), settings, seeds, list(runs.values()),
                chapters, {k: dict(v or {}) for k, v in per_notebook.items()})


def notebook_parameters(plan: Plan, name: str, declared: set[str], runs_dir: Path, data_dir: str | None) -> dict[str, Any]:
    """The papermill parameters of chapter ``name``: what the plan offers that the notebook declares."""
    source = f"notebooks/{name}.ipynb"
    own = plan.notebook_parameters.get(name, {})
    undeclared = sorted(set(own) - declared)
    if undeclared:
        raise ConfigError(f"experiments/{plan.profile}.yaml: notebooks.{name}.{undeclared[0]} is not a parameter "
                          f"of {source}; its parameters: {', '.join(sorted(declared))}")
    if "runs_dir" in declared:
        missing = sorted(set(plan.settings) - declared)
        if missing:
            raise ConfigError(f"experiments/{plan.profile}.yaml: settings.{missing[0]} is not a parameter of {source}, "
                              "which reads runs: it would look for runs trained without it")
    offered = plan.settings | {"profile": plan.profile, "seeds": plan.seeds, "runs_dir": str(runs_dir),
                               "data_dir": data_dir, "results_dir": str(runs_dir.parent / RESULTS_DIR)} | own
    return {k: v for k, v in offered.items() if k in declared}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def library_fingerprint() -> str:
    """Hash of the labelaug_core sources and version: a change re-executes every notebook."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(package.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def notebook_stamp(source: Path, parameters: dict[str, Any], run_dirs: list[Path],
                   files: list[Path] = ()) -> dict[str, Any]:
    """What an executed notebook depends on; equal stamps mean the output can be reused.

    ``files``: other inputs it reads (the benchmark results of the performance chapter).
    """
    return {
        "notebook": _sha256(source.read_bytes()),
        "parameters": parameters,
        "run_metrics": {d.name: _sha256((d / "metrics.json").read_bytes()) for d in run_dirs},
        "files": {f.name: _sha256(f.read_bytes()) for f in files},
        "library": library_fingerprint(),
    }


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def execute_notebook(source: Path, output: Path, parameters: dict[str, Any], stamp: dict[str, Any],
                     *, cwd: Path, force: bool = False) -> bool:
    """Execute ``source`` into ``output`` with papermill unless its stamp is unchanged.

    Returns True if executed, False if reused. A failing cell raises BookError naming the
    notebook, the cell and the error; the partly executed ``output`` is kept for reading.
    """
    import papermill
    from nbclient.exceptions import DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    stamp_path = output.with_suffix(".stamp.json")
    canonical = json.dumps(stamp, indent=1, sort_keys=True) + "\n"
    if not force and output.is_file() and stamp_path.is_file() and stamp_path.read_text() == canonical:
        return False
    stamp_path.unlink(missing_ok=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        papermill.execute_notebook(
            str(source), str(output), parameters=parameters, kernel_name="python3", cwd=str(cwd),
            progress_bar=False, log_output=False, store_widget_state=True, config=_kernel_config(),
        )
    except PapermillExecutionError as exc:
        trace = _ANSI.sub("", "\n".join(exc.traceback))
        raise BookError(f"notebook {source} failed at In [{exc.exec_count}]: {exc.ename}: {exc.evalue}\n"
                        f"{trace}\npartly executed notebook kept at {output}") from exc
    except DeadKernelError as exc:
        raise BookError(f"notebook {source}: the kernel died ({exc}); partly executed notebook kept at {output}") from exc
    _hide_parameter_cells(output)
    stamp_path.write_text(canonical)
    return True


def _hide_parameter_cells(path: Path) -> None:
    """Tag the ``parameters`` and papermill's ``injected-parameters`` cells ``remove-cell``.

    The page states its settings in prose; the cells themselves hold machine paths
    (runs_dir, data_dir) and defaults that the injected values override.
    """
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if ("parameters" in tags or "injected-parameters" in tags) and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
    nbformat.write(nb, path)


def _kernel_config():
    """Kernel settings: encrypted transport where pyzmq supports it (ipykernel warns otherwise)."""
    import zmq
    from traitlets.config import Config

    return Config({"KernelManager": {"transport_encryption": "auto" if zmq.has("curve") else "disabled"}})


def check_kernel() -> None:
    """The ``python3`` kernel must run this interpreter, so notebooks import this library.

    jupyter_client runs a kernelspec whose command is ``python`` with its own interpreter; a
    kernelspec elsewhere on the Jupyter path pointing at another Python would not.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel as exc:
        raise BookError(f"no python3 kernel; run: {sys.executable} -m ipykernel install --sys-prefix --name python3") from exc
    program = spec.argv[0]
    if program not in ("python", "python3") and Path(program).resolve() != Path(sys.executable).resolve():
        raise BookError(f"the python3 kernel ({spec.resource_dir}) runs {program}, not {sys.executable}; run: "
                        f"{sys.executable} -m ipykernel install --sys-prefix --name python3")


def install_static_assets(root: Path = Path(".")) -> Path:
    """Copy the widget and math JavaScript from ``node_modules`` (``npm ci``) into ``book/_static_js``."""
    root = Path(root)
    modules, target = root / "node_modules", root / STATIC_DIR
    copies = [(modules / src, target / dst) for src, dst in STATIC_ASSETS]
    for src_dir, dst_dir, patterns in STATIC_FONT_DIRS:
        for pattern in patterns:
            copies += [(p, target / dst_dir / p.name) for p in sorted((modules / src_dir).glob(pattern))]
    missing = [str(src.relative_to(root)) for src, _ in copies[:len(STATIC_ASSETS)] if not src.is_file()]
    if missing:
        raise BookError(f"{missing[0]} is missing: run `npm ci --ignore-scripts` in {root.resolve()} "
                        "(the book serves its widget and math JavaScript itself)")
    for src, dst in copies:
        if not dst.is_file() or dst.stat().st_size != src.stat().st_size or dst.stat().st_mtime < src.stat().st_mtime:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    return target


def build_html(root: Path = Path(".")) -> Path:
    """Jupyter Book HTML build of ``root`` with warnings as errors; returns ``_build/html/index.html``."""
    root = Path(root)
    program = Path(sys.executable).with_name("jupyter-book")
    # --all: a fresh Sphinx environment every time (a few seconds): an incremental build would
    # neither repeat the warnings of unchanged pages nor notice every change of _config.yml.
    command = [str(program) if program.exists() else "jupyter-book", "build", str(root), "--builder", "html",
               "-W", "-n", "--keep-going", "--all"]
    result = subprocess.run(command, cwd=root, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
        raise BookError(f"jupyter-book build failed (exit {result.returncode}):\n{tail}")
    return root / "_build" / "html" / "index.html"


def build_book(
    profile: str,
    *,
    root: Path = Path("."),
    force: bool = False,
    data_dir: str | None = None,
    device: str | None = None,
    progress: bool = True,
) -> Path:
    """Run the plan of ``profile`` and build the book; returns ``_build/html/index.html``.

    Trains (or reuses) every run of ``experiments/<profile>.yaml`` into ``root/runs``,
    executes every chapter into ``root/book`` (reusing unchanged ones unless ``force``) and
    builds the HTML into ``root/_build/html``. ``data_dir`` defaults to ``$LABELAUG_DATA``.
    Raises ConfigError for a bad plan (before anything runs) and BookError when a notebook
    or the HTML build fails.
    """
    import papermill

    from labelaug_core.runs import ensure_run

    root = Path(root).resolve()
    plan = load_plan(profile, root)
    data_dir = data_dir if data_dir is not None else os.environ.get("LABELAUG_DATA")
    runs_dir = root / "runs"
    declared = {n: set(papermill.inspect_notebook(str(root / "notebooks" / f"{n}.ipynb"))) for n in plan.chapters}
    parameters = {n: notebook_parameters(plan, n, declared[n], runs_dir, data_dir) for n in plan.chapters}
    check_kernel()
    install_static_assets(root)

    started = time.perf_counter()
    if progress:
        print(f"book {profile}: {plan.description}; {len(plan.runs)} runs, {len(plan.chapters)} chapters")
    steps = tqdm(total=len(plan.runs) + len(plan.chapters) + 1, desc=f"book {profile}", unit="step",
                 disable=not progress, dynamic_ncols=True)
    with steps:
        run_dirs = []
        for i, config in enumerate(plan.runs, 1):
            steps.set_postfix_str(f"run {i}/{len(plan.runs)} {config.run_id}")
            run_dirs.append(ensure_run(config, runs_dir, data_dir=data_dir, device=device, progress=progress))
            steps.update()
        for i, name in enumerate(plan.chapters, 1):
            steps.set_postfix_str(f"notebook {i}/{len(plan.chapters)} {name}")
            reads_runs = "runs_dir" in declared[name]
            source = root / "notebooks" / f"{name}.ipynb"
            results = sorted(Path(parameters[name]["results_dir"]).glob("*.json")) if "results_dir" in declared[name] else []
            stamp = notebook_stamp(source, parameters[name], run_dirs if reads_runs else [], results)
            executed = execute_notebook(source, root / "book" / f"{name}.ipynb", parameters[name], stamp,
                                        cwd=root, force=force)
            if not executed and progress:
                steps.write(f"book: {name}: unchanged, not executed again")
            steps.update()
        steps.set_postfix_str("jupyter-book build")
        index = build_html(root)
        steps.update()
    if progress:
        print(f"book: {index} ({time.perf_counter() - started:.0f} s)")
    return index
