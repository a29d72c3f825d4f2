"""The book: run an experiment plan, execute the chapter notebooks, build the HTML.

An experiment plan is ``experiments/<profile>.yaml``::

    description: one line shown in the progress output
    settings:            # TrainConfig fields shared by every run; notebooks get them as one dict `settings`
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
``book/NAME.ipynb``; of what the plan offers it gets the parameters that its ``parameters``
cell declares: ``settings`` (the plan's ``settings:`` mapping, one dict), ``seeds``,
``runs_dir`` (absolute path), ``data_dir``, ``results_dir``, ``profile`` and its own
``notebooks`` entry. A notebook that reads runs (declares ``runs_dir``) must declare
``settings``, so that it looks up exactly the runs the plan trained
(``find_runs(runs_dir, seeds, **settings)``, :func:`labelaug_core.runs.find_runs`); its
parameters cell defaults ``settings`` to the smoke profile's, so that it runs by hand after
``labelaug book --profile smoke``.

An executed notebook is reused while its stamp (``book/NAME.stamp.json``: hashes of the
notebook source, its parameters, the metrics of the runs it reads and the library sources)
is unchanged. The HTML is built by Jupyter Book with warnings as errors and never executes
anything (``execute_notebooks: "off"`` in ``_config.yml``).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from labelaug_core.config import TrainConfig
from labelaug_core.errors import ConfigError

PLAN_KEYS = ("description", "settings", "seeds", "runs", "notebooks")


# Papermill parameters every notebook may declare besides ``settings``.
COMMON_PARAMETERS = ("profile", "seeds", "runs_dir", "data_dir", "results_dir")

# The papermill parameter that carries the plan's ``settings:`` mapping (TrainConfig fields) as one dict.
SETTINGS_PARAMETER = "settings"


RESULTS_DIR = Path("benchmarks") / "results"  # `labelaug bench` JSON files, read by the performance chapter


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
    allowed = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(settings) - allowed)
    if unknown:
        raise ConfigError(f"{where}: settings: unknown config field {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")
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
    """The papermill parameters of chapter ``name``: what the plan offers that the notebook declares.

    The plan's shared settings travel as one dict, ``settings``; ``profile``, ``seeds``, ``runs_dir``,
    ``data_dir`` and ``results_dir`` (:data:`COMMON_PARAMETERS`) as themselves; then the chapter's
    own ``notebooks`` entry. Raises ConfigError for an entry the notebook does not declare, an entry
    that would override a shared parameter, a notebook that reads runs without declaring
    ``settings``, and a notebook that still declares a settings field as a parameter of its own
    (it would keep its default instead of the plan's value).
    """
    source = f"notebooks/{name}.ipynb"
    where = f"experiments/{plan.profile}.yaml"
    own = plan.notebook_parameters.get(name, {})
    shared = sorted(set(own) & {SETTINGS_PARAMETER, *COMMON_PARAMETERS})
    if shared:
        raise ConfigError(f"{where}: notebooks.{name}.{shared[0]} is given to every chapter by the plan itself "
                          "(settings:, seeds:, the profile and the paths); remove it from the chapter's entry")
    undeclared = sorted(set(own) - declared)
    if undeclared:
        raise ConfigError(f"{where}: notebooks.{name}.{undeclared[0]} is not a parameter "
                          f"of {source}; its parameters: {', '.join(sorted(declared))}")
    if "runs_dir" in declared and SETTINGS_PARAMETER not in declared:
        raise ConfigError(f"{source} reads runs (declares runs_dir) but not `{SETTINGS_PARAMETER}`: "
                          f"it would look for runs trained without the settings of {where}")
    stray = sorted((set(plan.settings) & declared) - set(own))
    if stray:
        raise ConfigError(f"{source} declares {stray[0]!r} as a parameter of its own, but {where} gives it as "
                          f"settings[{stray[0]!r}] (one dict `{SETTINGS_PARAMETER}`); read it from there")
    offered = {SETTINGS_PARAMETER: dict(plan.settings), "profile": plan.profile, "seeds": plan.seeds,
               "runs_dir": str(runs_dir), "data_dir": data_dir,
               "results_dir": str(runs_dir.parent / RESULTS_DIR)} | own
    return {k: v for k, v in offered.items() if k in declared}
