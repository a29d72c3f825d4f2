"""The book: run an experiment plan, execute the chapter notebooks, build the HTML.

An experiment plan is ``experiments/<profile>.yaml`` (``labelaug book --profile NAME``) or any
YAML file (``labelaug book --plan FILE.yaml``), whose profile name is its ``name:`` or else the
file's stem::

    name: my-plan        # optional; letters, digits, '.', '_', '-' (default: the file's stem)
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
    publish_only: false  # true: no book; `labelaug publish` makes the runs and commits their small
                         # files (results/<profile>/, read by the default book; experiments/verdict.yaml)
    confirm:             # publish_only plans: the runs above are a screen; a rule written down before
      seeds: [3, 4, 5]   # the confirmation picks one Adv+ setting, which is trained again with its
      rule: largest-pgd-gain   # matched Adv on these fresh seeds (labelaug_core.runs.screen)

The chapters are the ``book/NAME`` entries of ``_toc.yml`` whose source is
``notebooks/NAME.ipynb``, in the toc's order. Each is executed with papermill into
``book/NAME.ipynb``; of what the plan offers it gets the parameters that its ``parameters``
cell declares: ``settings`` (the plan's ``settings:`` mapping, one dict), ``seeds``,
``runs_dir`` (absolute path), ``data_dir``, ``results_dir``, ``profile`` and its own
``notebooks`` entry. A notebook that reads runs (declares ``runs_dir``) must declare
``settings``, so that it looks up exactly the runs the plan trained
(``find_runs(runs_dir, seeds, **settings)``, :func:`labelaug_core.runs.store.find_runs`); its
parameters cell defaults ``settings`` to the smoke profile's, so that it runs by hand after
``labelaug book --profile smoke``.

A plan is checked before anything trains or is written, and a bad one raises a one-line
ConfigError naming the file and the key: an unknown key, a value of the wrong type (``seeds``
a list of integers >= 0, ``settings`` a mapping whose values have their TrainConfig field's type,
``runs`` a list of mappings, ``notebooks`` a mapping of chapter names to mappings), a chapter
that is not in ``_toc.yml``, a parameter that a chapter does not declare
(:func:`notebook_parameters`) and, when a chapter reads runs, a missing Std, Adv or Adv+ run at
the plan's settings (:func:`check_required_runs`).

An executed notebook is reused while its stamp (``book/NAME.stamp.json``: hashes of the
notebook source, its parameters, the metrics of the runs it reads and the library sources)
is unchanged. The HTML is built by Jupyter Book with warnings as errors and never executes
anything (``execute_notebooks: "off"`` in ``_config.yml``).
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from labelaug_core.config import TrainConfig
from labelaug_core.errors import ConfigError

PLAN_KEYS = ("name", "description", "settings", "seeds", "runs", "notebooks", "publish_only", "confirm")

# The runs that every chapter reading runs looks up, once per seed at the plan's settings:
# ``find_runs(runs_dir, seeds, **settings)`` (labelaug_core.runs.store) reads these methods.
REQUIRED_METHODS = ("std", "adv", "advplus")

# TrainConfig field -> its annotation ("float | None", "int", ...): the type a plan's value must have.
_FIELD_TYPES = {f.name: f.type for f in fields(TrainConfig)}

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


# Papermill parameters every notebook may declare besides ``settings``.
COMMON_PARAMETERS = ("profile", "seeds", "runs_dir", "data_dir", "results_dir", "published_dir", "design_dir")

# The papermill parameter that carries the plan's ``settings:`` mapping (TrainConfig fields) as one dict.
SETTINGS_PARAMETER = "settings"


RESULTS_DIR = Path("benchmarks") / "results"  # `labelaug bench` JSON files, read by the performance chapter
PUBLISHED_DIR = Path("results") / "verdict"  # `labelaug publish --profile verdict`, read by the reproduction report
DESIGN_DIR = Path("results") / "la-design"  # `labelaug publish --profile la-design` (make verdict), read by it too


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
    source: str = ""                            # the plan file as named in messages
    publish_only: bool = False                  # runs for `labelaug publish`, not a book
    confirm: dict[str, Any] | None = None       # {"seeds": [...], "rule": name}: runs are a screen (runs.screen)


def available_profiles(root: Path = Path(".")) -> list[str]:
    """Profile names: the ``experiments/*.yaml`` files under ``root``."""
    return sorted(p.stem for p in (Path(root) / "experiments").glob("*.yaml"))


def toc_files(root: Path = Path(".")) -> list[str]:
    """Every ``file:`` of ``_toc.yml`` (the root first), in reading order, without suffix."""
    path = Path(root) / "_toc.yml"
    if not path.is_file():
        raise ConfigError(f"_toc.yml: not found in {Path(root).resolve()}; run labelaug in the book's folder "
                          "(the repository root, which holds _toc.yml, experiments/ and notebooks/)")
    try:
        toc = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"_toc.yml: not YAML ({' '.join(str(exc).split())[:120]})") from exc
    if not isinstance(toc, dict) or "root" not in toc:
        raise ConfigError(f"_toc.yml: must be a Jupyter Book table of contents with a root: entry; got {toc!r:.80}")
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


def plan_path(profile: str, root: Path = Path(".")) -> Path:
    """The file of profile ``profile``: ``root/experiments/<profile>.yaml``; ConfigError if none."""
    profiles = available_profiles(root)
    if not profiles:
        raise ConfigError(f"profile: no experiments/*.yaml in {Path(root).resolve()}; run labelaug in the book's "
                          "folder (the repository root), or give --plan FILE.yaml")
    if profile not in profiles:
        raise ConfigError(f"profile must be one of {', '.join(profiles) or '(none in experiments/)'}; got {profile!r}")
    return Path(root) / "experiments" / f"{profile}.yaml"


def load_plan(profile: str, root: Path = Path(".")) -> Plan:
    """Read and validate ``experiments/<profile>.yaml``; raises ConfigError naming the bad entry."""
    return read_plan(plan_path(profile, root), root, where=f"experiments/{profile}.yaml")


def _type_name(annotation: str) -> str:
    return {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string"}[annotation]


def _check_field_type(where: str, key: str, name: str, value: Any) -> None:
    """``value`` must have the type of TrainConfig field ``name`` (``None`` only where the field allows it)."""
    annotation = str(_FIELD_TYPES[name])  # "float | None", "int", "bool | None", "str", ...
    base = annotation.split("|")[0].strip()
    if value is None and "None" in annotation:
        return
    ok = {"int": isinstance(value, int) and not isinstance(value, bool),
          "float": isinstance(value, (int, float)) and not isinstance(value, bool),
          "bool": isinstance(value, bool), "str": isinstance(value, str)}[base]
    if not ok:
        raise ConfigError(f"{where}: {key} must be {_type_name(base)}; got {value!r}")


def _check_config_values(where: str, key: str, values: dict[str, Any], lists: bool) -> None:
    """Known TrainConfig fields of the right types (each value a list of such values where ``lists``)."""
    unknown = sorted(set(values) - set(_FIELD_TYPES))
    if unknown:
        raise ConfigError(f"{where}: {key}: unknown config field {unknown[0]!r}; allowed: {', '.join(sorted(_FIELD_TYPES))}")
    for name, value in values.items():
        for item in value if lists and isinstance(value, list) else [value]:
            _check_field_type(where, f"{key}.{name}", name, item)


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"plan {path}: no such file")
    try:
        raw = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"plan {path}: not YAML{line}: {problem}") from exc
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"plan {path}: must be a YAML mapping with keys {', '.join(PLAN_KEYS)}; got {type(raw).__name__}")
    return raw


def read_plan(path: Path | str, root: Path = Path("."), *, where: str | None = None) -> Plan:
    """Read and validate the plan file ``path`` (anywhere) for the book under ``root``.

    Its profile name is its ``name:`` or else the file's stem. ``where`` names the file in
    messages (default: ``path`` as given). Raises ConfigError naming the bad entry.
    """
    root, path = Path(root), Path(path)
    where = where or str(path)
    raw = _read_yaml(path)
    unknown = sorted(set(raw) - set(PLAN_KEYS), key=str)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(PLAN_KEYS)}")
    name = raw.get("name", path.stem)
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(f"{where}: name must be letters, digits, '.', '_' or '-'; got {name!r}")
    description = raw.get("description", name)
    if not isinstance(description, str):
        raise ConfigError(f"{where}: description must be a string; got {description!r}")
    settings = {} if raw.get("settings") is None else raw["settings"]
    if not isinstance(settings, dict):
        raise ConfigError(f"{where}: settings must be a mapping of config fields to values; got {settings!r}")
    _check_config_values(where, "settings", settings, lists=False)
    seeds = [0] if raw.get("seeds") is None else raw["seeds"]
    if not (isinstance(seeds, list) and seeds and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                      for s in seeds)):
        raise ConfigError(f"{where}: seeds must be a list of integers >= 0; got {seeds!r}")
    entries = [] if raw.get("runs") is None else raw["runs"]
    if not isinstance(entries, list):
        raise ConfigError(f"{where}: runs must be a list of mappings of config fields to values or lists; got {entries!r}")
    if not entries:  # no run validates the settings: check them on their own
        try:
            TrainConfig.from_dict(dict(settings)).resolved()
        except ConfigError as exc:
            raise ConfigError(f"{where}: settings: {exc}") from exc
    runs: dict[str, TrainConfig] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: runs[{i}] must be a mapping of config fields to values or lists")
        _check_config_values(where, f"runs[{i}]", entry, lists=True)
        if not entry:
            raise ConfigError(f"{where}: runs[{i}] is empty; give at least one config field (e.g. method: std)")
        if any(isinstance(v, list) and not v for v in entry.values()):
            empty = next(k for k, v in entry.items() if isinstance(v, list) and not v)
            raise ConfigError(f"{where}: runs[{i}].{empty} is an empty list (no run); give at least one value")
        for combo in _grid(entry):
            for seed in ([combo["seed"]] if "seed" in combo else seeds):
                try:
                    config = TrainConfig.from_dict(settings | combo | {"seed": seed}).resolved()
                except ConfigError as exc:
                    raise ConfigError(f"{where}: runs[{i}]: {exc}") from exc
                runs.setdefault(config.run_id, config)
    publish_only = raw.get("publish_only", False)
    if not isinstance(publish_only, bool):
        raise ConfigError(f"{where}: publish_only must be true or false; got {publish_only!r}")
    # A publish_only plan builds no book: it needs no book folder (no _toc.yml) around it.
    chapters = [] if publish_only and not (root / "_toc.yml").is_file() else toc_chapters(root)
    per_notebook = {} if raw.get("notebooks") is None else raw["notebooks"]
    if not isinstance(per_notebook, dict):
        raise ConfigError(f"{where}: notebooks must be a mapping of chapter names to parameters; got {per_notebook!r}")
    for chapter, values in per_notebook.items():
        if chapter not in chapters:
            raise ConfigError(f"{where}: notebooks: {chapter!r} is not a chapter of _toc.yml; chapters: {', '.join(chapters)}")
        if not isinstance(values or {}, dict):
            raise ConfigError(f"{where}: notebooks.{chapter} must be a mapping of parameters to values; got {values!r}")
    if publish_only and not runs:
        raise ConfigError(f"{where}: runs: a publish_only plan must list at least one run "
                          "(e.g. {method: [std, adv, advplus]}); it has none")
    if publish_only and per_notebook:
        raise ConfigError(f"{where}: notebooks: a publish_only plan builds no book; remove the notebooks entry")
    confirm = _read_confirm(where, raw.get("confirm"), seeds, publish_only)
    return Plan(name, description, dict(settings), list(seeds), list(runs.values()), chapters,
                {k: dict(v or {}) for k, v in per_notebook.items()}, where, publish_only, confirm)


def _read_confirm(where: str, confirm: Any, screen_seeds: list[int], publish_only: bool) -> dict[str, Any] | None:
    """The ``confirm:`` entry: fresh ``seeds`` (none of the screen's) and a ``rule`` of
    :data:`labelaug_core.runs.screen.RULES`; only in a publish_only plan."""
    from labelaug_core.runs.screen import RULES

    if confirm is None:
        return None
    if not publish_only:
        raise ConfigError(f"{where}: confirm: only a publish_only plan has a confirmation stage")
    if not isinstance(confirm, dict) or set(confirm) != {"seeds", "rule"}:
        raise ConfigError(f"{where}: confirm must be a mapping with the keys seeds and rule; got {confirm!r}")
    seeds = confirm["seeds"]
    if not (isinstance(seeds, list) and len(seeds) >= 2 and all(isinstance(s, int) and not isinstance(s, bool)
                                                                 and s >= 0 for s in seeds)):
        raise ConfigError(f"{where}: confirm.seeds must be a list of at least 2 integers >= 0; got {seeds!r}")
    reused = sorted(set(seeds) & set(screen_seeds))
    if reused:
        raise ConfigError(f"{where}: confirm.seeds must be fresh seeds, none of the screen's seeds {screen_seeds}; "
                          f"got {reused[0]}")
    if confirm["rule"] not in RULES:
        raise ConfigError(f"{where}: confirm.rule must be one of {', '.join(RULES)}; got {confirm['rule']!r}")
    return {"seeds": list(seeds), "rule": confirm["rule"]}


def check_required_runs(plan: Plan, declared: dict[str, set[str]]) -> None:
    """Raise ConfigError if a chapter reads runs (declares ``runs_dir``) and the plan lacks one of them.

    Such a chapter reads the runs of :data:`REQUIRED_METHODS` at the plan's settings for every seed
    (``find_runs(runs_dir, seeds, **settings)``); ``declared`` maps each chapter to the parameters
    its ``parameters`` cell declares.
    """
    readers = [name for name in plan.chapters if "runs_dir" in declared.get(name, ())]
    if not readers:
        return
    planned = {config.run_id for config in plan.runs}
    more = f" and {len(readers) - 1} more" if len(readers) > 1 else ""
    for seed in plan.seeds:
        for method in REQUIRED_METHODS:
            try:
                wanted = TrainConfig.from_dict(plan.settings | {"method": method, "seed": seed}).resolved()
            except ConfigError as exc:
                raise ConfigError(f"{plan.source}: settings: {exc}") from exc
            if wanted.run_id not in planned:
                raise ConfigError(
                    f"{plan.source}: runs: no {method} run at the plan's settings (seed {seed}), which every chapter "
                    f"that reads runs needs ({readers[0]}{more}); add the entry {{method: [{', '.join(REQUIRED_METHODS)}]}}")


def notebook_parameters(plan: Plan, name: str, declared: set[str], runs_dir: Path, data_dir: str | None) -> dict[str, Any]:
    """The papermill parameters of chapter ``name``: what the plan offers that the notebook declares.

    The plan's shared settings travel as one dict, ``settings``; ``profile``, ``seeds``, ``runs_dir``,
    ``data_dir``, ``results_dir``, ``published_dir`` and ``design_dir`` (:data:`COMMON_PARAMETERS`) as themselves; then the chapter's
    own ``notebooks`` entry. Raises ConfigError for an entry the notebook does not declare, an entry
    that would override a shared parameter, a notebook that reads runs without declaring
    ``settings``, and a notebook that still declares a settings field as a parameter of its own
    (it would keep its default instead of the plan's value).
    """
    source = f"notebooks/{name}.ipynb"
    where = plan.source or f"experiments/{plan.profile}.yaml"
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
               "results_dir": str(runs_dir.parent / RESULTS_DIR),
               "published_dir": str(runs_dir.parent / PUBLISHED_DIR),
               "design_dir": str(runs_dir.parent / DESIGN_DIR)} | own
    return {k: v for k, v in offered.items() if k in declared}
