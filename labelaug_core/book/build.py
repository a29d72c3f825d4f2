"""Building the book: execute each chapter with papermill (stamped, so unchanged chapters are
reused), install the local widget JavaScript, and run Jupyter Book."""
from __future__ import annotations

import ast
import hashlib
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from labelaug_core import __version__
from labelaug_core.book.plan import BookError, check_required_runs, load_plan, notebook_parameters, read_plan
from labelaug_core.book.progress import CellProgress, PlanProgress, executable_cells
from labelaug_core.cache import code_digests, module_closure, module_path
from labelaug_core.errors import ConfigError

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


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _defining_module(package: str, name: str) -> str:
    """The ``labelaug_core`` module that defines ``name`` as imported from ``package``."""
    module = importlib.import_module(package)
    candidate = f"{package}.{name}"
    if module_path_exists(candidate):
        return candidate  # `from labelaug_core.x import submodule`
    obj = getattr(module, name, None)
    defined_in = getattr(obj, "__module__", None)
    if isinstance(defined_in, str) and defined_in.startswith("labelaug_core"):
        return defined_in
    for sub in module_closure(*(m for m in _submodules(package))):  # constants: whoever defines them
        if name in _top_level_names(sub):
            return sub
    return package


def _submodules(package: str) -> list[str]:
    folder = module_path(package).parent
    if module_path(package).name != "__init__.py":
        return [package]
    return [f"{package}.{p.stem}" for p in sorted(folder.glob("*.py")) if p.name != "__init__.py"]


def _top_level_names(module: str) -> set[str]:
    tree = ast.parse(module_path(module).read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def module_path_exists(module: str) -> bool:
    try:
        return module_path(module).is_file()
    except ValueError:
        return False


def notebook_code(source: Path) -> tuple[str, ...]:
    """The ``labelaug_core`` modules whose names a notebook imports (each the module that defines the
    name, not the package that re-exports it): with their imports, the code a chapter runs."""
    modules = set()
    for cell in json.loads(source.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        try:
            tree = ast.parse("".join(cell["source"]))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "labelaug_core":
                modules.update(_defining_module(node.module, a.name) for a in node.names)
            elif isinstance(node, ast.Import):
                modules.update(a.name for a in node.names if a.name.split(".")[0] == "labelaug_core")
    return tuple(sorted(modules))


def notebook_stamp(source: Path, parameters: dict[str, Any], run_dirs: list[Path],
                   files: list[Path] = ()) -> dict[str, Any]:
    """What an executed notebook depends on; equal stamps mean the output can be reused.

    Its source, parameters, the runs it reads, ``files`` (other inputs: the benchmark results of
    the performance chapter) and the digests of the code it runs (:func:`notebook_code` and what
    that imports, :mod:`labelaug_core.cache`): a change of code that a chapter does not run does not
    re-execute it.
    """
    return {
        "notebook": _sha256(source.read_bytes()),
        "parameters": parameters,
        "run_metrics": {f"{d.parent.parent.name}/{d.name}": _sha256((d / "metrics.json").read_bytes()) for d in run_dirs},
        "files": {f"{f.parent.name}/{f.name}": _sha256(f.read_bytes()) for f in files},
        "code": code_digests(*notebook_code(source)),
        "labelaug_core": __version__,
    }


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def execute_notebook(source: Path, output: Path, parameters: dict[str, Any], stamp: dict[str, Any],
                     *, cwd: Path, force: bool = False, progress: CellProgress | None = None) -> bool:
    """Execute ``source`` into ``output`` with papermill unless its stamp is unchanged.

    Returns True if executed, False if reused. A failing cell raises BookError naming the
    notebook, the cell and the error; the partly executed ``output`` is kept for reading.
    ``progress`` receives nbclient's cell hooks (:class:`labelaug_core.book.progress.CellProgress`).
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
            **(progress.hooks() if progress is not None else {}),
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


def check_run_inputs(plan, runs_dir: Path, data_dir: str | None, device: str | None) -> None:
    """Every run of ``plan``, checked before anything trains or is written
    (:func:`labelaug_core.runs.training.check_cached_inputs`; a class or size error names the plan file)."""
    from labelaug_core.runs.training import check_cached_inputs

    for config in plan.runs:
        check_cached_inputs(config, runs_dir, data_dir, device, where=plan.source)


def build_book(
    profile: str | None = None,
    *,
    plan_file: Path | str | None = None,
    root: Path = Path("."),
    force: bool = False,
    data_dir: str | None = None,
    device: str | None = None,
    progress: bool = True,
    runs_dir: Path | str | None = None,
) -> Path:
    """Run the plan of ``profile`` (or the plan file ``plan_file``) and build the book; returns
    ``_build/html/index.html``.

    Trains (or reuses) every run of ``experiments/<profile>.yaml`` (or of ``plan_file``, a
    YAML file anywhere) into ``runs_dir`` (default ``root/runs``), executes every chapter into ``root/book`` (reusing
    unchanged ones unless ``force``) and builds the HTML into ``root/_build/html``.
    ``data_dir`` defaults to ``$LABELAUG_DATA``. Raises ConfigError for a bad plan (before
    anything runs or is written) and BookError when a notebook or the HTML build fails. With
    ``progress``, shows the plan's steps and, beneath them, the executing chapter's cells
    (:mod:`labelaug_core.book.progress`).
    """
    import papermill

    from labelaug_core.runs.store import load_run
    from labelaug_core.runs.training import ensure_run

    if (profile is None) == (plan_file is None):
        raise ConfigError("give either a profile or a plan file, not both" if profile else "give a profile or a plan file")
    root = Path(root).resolve()
    plan = read_plan(plan_file, root) if plan_file is not None else load_plan(profile, root)
    if plan.publish_only:
        raise ConfigError(f"{plan.source}: a publish_only plan builds no book; make its runs with "
                          f"'labelaug publish {'--plan ' + str(plan_file) if plan_file else '--profile ' + plan.profile}'")
    data_dir = data_dir if data_dir is not None else os.environ.get("LABELAUG_DATA")
    runs_dir = Path(runs_dir).resolve() if runs_dir is not None else root / "runs"
    sources = {n: root / "notebooks" / f"{n}.ipynb" for n in plan.chapters}
    declared = {n: set(papermill.inspect_notebook(str(sources[n]))) for n in plan.chapters}
    parameters = {n: notebook_parameters(plan, n, declared[n], runs_dir, data_dir) for n in plan.chapters}
    check_required_runs(plan, declared)
    check_run_inputs(plan, runs_dir, data_dir, device)
    check_kernel()
    install_static_assets(root)

    started = time.perf_counter()
    if progress:
        print(f"book {plan.profile}: {plan.description}; {len(plan.runs)} runs, {len(plan.chapters)} chapters",
              flush=True)
    steps = PlanProgress(len(plan.runs) + len(plan.chapters) + 1, f"book {plan.profile}", enabled=progress)
    try:
        run_dirs = []
        for i, config in enumerate(plan.runs, 1):
            steps.step(f"run {i}/{len(plan.runs)} {config.run_id}")
            run_dir = ensure_run(config, runs_dir, data_dir=data_dir, device=device, progress=progress)
            run_dirs.append(load_run(run_dir, config).eval_dir)
            steps.done_step()
        for i, name in enumerate(plan.chapters, 1):
            steps.step(f"chapter {i}/{len(plan.chapters)} {name}")
            reads_runs = "runs_dir" in declared[name]
            results = sorted(Path(parameters[name]["results_dir"]).glob("*.json")) if "results_dir" in declared[name] else []
            for published in ("published_dir", "design_dir"):  # a manifest names the published runs and their commit
                if published in declared[name]:
                    results += sorted(Path(parameters[name][published]).glob("manifest.json"))
            stamp = notebook_stamp(sources[name], parameters[name], run_dirs if reads_runs else [], results)
            cells = executable_cells(json.loads(sources[name].read_text())["cells"]) + bool(parameters[name])
            chapter = steps.chapter(name, cells)
            try:
                executed = execute_notebook(sources[name], root / "book" / f"{name}.ipynb", parameters[name], stamp,
                                            cwd=root, force=force, progress=chapter)
            finally:
                chapter.close()
            if not executed:
                steps.write(f"book: {name}: unchanged, not executed again")
            steps.done_step()
        steps.step("jupyter-book build")
        index = build_html(root)
        steps.done_step()
    finally:
        steps.close()
    if progress:
        print(f"book: {index} ({time.perf_counter() - started:.0f} s)")
    return index
