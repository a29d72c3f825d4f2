"""labelaug_core.book: experiment plans, cached chapter execution, and the smoke book end to end.

The smoke book is built once per test session (``smoke_book``) in a temporary copy of the
book's sources; tests/test_book_browser.py opens the same build in a browser.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
import yaml

from labelaug_core.book.build import build_book, execute_notebook, install_static_assets, notebook_stamp
from labelaug_core.book.plan import (
    BookError,
    available_profiles,
    check_required_runs,
    load_plan,
    notebook_parameters,
    read_plan,
    toc_chapters,
)
from labelaug_core.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
BOOK_FILES = ("_config.yml", "_toc.yml")
BOOK_DIRS = ("notebooks", "experiments", "book/_static", "benchmarks/results", "results")


def copy_book_sources(dst: Path) -> None:
    """What `labelaug book` reads from the repository, without generated files; node_modules linked."""
    for name in BOOK_FILES:
        shutil.copy2(REPO / name, dst / name)
    for name in BOOK_DIRS:
        shutil.copytree(REPO / name, dst / name)
    for page in (REPO / "book").glob("*.md"):
        shutil.copy2(page, dst / "book" / page.name)
    (dst / "node_modules").symlink_to(REPO / "node_modules", target_is_directory=True)


@dataclass
class SmokeBook:
    root: Path
    index: Path
    build_s: float


_BUILT: dict[str, SmokeBook] = {}


def built_smoke_book(tmp_path_factory) -> SmokeBook:
    """The smoke profile built end to end, once per session (shared with the browser test)."""
    if "smoke" not in _BUILT:
        root = tmp_path_factory.mktemp("smoke_book")
        copy_book_sources(root)
        started = time.perf_counter()
        index = build_book("smoke", root=root, progress=False)
        _BUILT["smoke"] = SmokeBook(root, index, time.perf_counter() - started)
    return _BUILT["smoke"]


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory) -> SmokeBook:
    return built_smoke_book(tmp_path_factory)


def write_notebook(path: Path, parameters: str, *cells: str) -> None:
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]})]
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def mini_book(root: Path, plan: dict, notebooks: dict[str, tuple[str, ...]]) -> None:
    """A book with an intro page, the given chapter notebooks and one profile `mini`."""
    (root / "book").mkdir(parents=True)
    (root / "book" / "intro.md").write_text("# Intro\n")
    for name, (parameters, *cells) in notebooks.items():
        write_notebook(root / "notebooks" / f"{name}.ipynb", parameters, *cells)
    toc = {"format": "jb-book", "root": "book/intro", "chapters": [{"file": f"book/{n}"} for n in notebooks]}
    (root / "_toc.yml").write_text(yaml.safe_dump(toc))
    (root / "experiments").mkdir()
    (root / "experiments" / "mini.yaml").write_text(yaml.safe_dump(plan))


# --- plans -----------------------------------------------------------------------------------

def test_toc_lists_exactly_the_notebooks():
    """Every notebook is a chapter of the toc, as book/NAME, and every toc entry exists."""
    chapters = toc_chapters(REPO)
    assert sorted(chapters) == sorted(p.stem for p in (REPO / "notebooks").glob("*.ipynb"))
    assert len(chapters) == len(set(chapters))
    assert chapters == sorted(chapters)  # numbered chapters in reading order


BOOK_PROFILES = [p for p in available_profiles(REPO) if not load_plan(p, REPO).publish_only]


@pytest.mark.parametrize("profile", BOOK_PROFILES)
def test_every_profile_gives_every_chapter_valid_parameters(profile):
    import papermill

    plan = load_plan(profile, REPO)
    assert plan.runs and plan.chapters == toc_chapters(REPO)
    for name in plan.chapters:
        declared = set(papermill.inspect_notebook(str(REPO / "notebooks" / f"{name}.ipynb")))
        params = notebook_parameters(plan, name, declared, REPO / "runs", None)
        assert set(params) <= declared
        assert all(params[k] == v for k, v in plan.notebook_parameters.get(name, {}).items())
        if "runs_dir" in declared:  # a chapter that reads runs gets every training setting, as one dict
            assert params["settings"] == plan.settings and params["seeds"] == plan.seeds
        assert not set(declared) & set(plan.settings)  # no settings field is a parameter of its own


# The notebooks' defaults are the default profile's: tests/test_exercises.py checks them.


def test_profiles_needed_by_the_makefile_and_issue_exist():
    assert {"smoke", "fashion-mnist-cpu", "cifar10-gpu", "imagenet-gpu"} <= set(available_profiles(REPO))


def test_unknown_profile_lists_the_available_ones():
    with pytest.raises(ConfigError, match=r"profile must be one of .*fashion-mnist-cpu.*smoke.*; got 'nope'"):
        load_plan("nope", REPO)


def test_run_grid_is_expanded_per_seed_without_duplicates(tmp_path):
    plan = {
        "settings": {"dataset": "fashion-mnist", "epochs": 1, "train_subset": 100},
        "seeds": [0, 1],
        "runs": [{"method": ["std", "adv", "advplus"]}, {"method": "advplus", "delta": [0.0, 0.03, 0.3]}],
    }
    mini_book(tmp_path, plan, {"01_a": ("x = 1",)})
    runs = load_plan("mini", tmp_path).runs
    # 3 methods + 3 deltas, advplus at the default delta 0.03 counted once: 5 runs per seed.
    assert len(runs) == 10 == len({r.run_id for r in runs})
    assert sorted({(r.method, r.delta) for r in runs}) == [("adv", 0.0), ("advplus", 0.0), ("advplus", 0.03),
                                                         ("advplus", 0.3), ("std", 0.0)]
    assert {r.seed for r in runs} == {0, 1}
    assert all(r.epochs == 1 and r.train_subset == 100 for r in runs)


@pytest.mark.parametrize(
    "plan, message",
    [
        ({"runs": [{"method": "sgd"}]}, r"experiments/mini.yaml: runs\[0\]: method must be one of"),
        ({"runs": [{"methd": "std"}]}, r"runs\[0\]: unknown config field 'methd'"),
        ({"run": []}, r"unknown key 'run'"),
        ({"seeds": [-1]}, r"seeds must be a list of integers"),
        ({"notebooks": {"02_missing": {}}}, r"notebooks: '02_missing' is not a chapter"),
    ],
)
def test_bad_plans_are_rejected_naming_the_entry(tmp_path, plan, message):
    mini_book(tmp_path, plan, {"01_a": ("x = 1",)})
    with pytest.raises(ConfigError, match=message):
        load_plan("mini", tmp_path)


# --- a plan file from anywhere: `labelaug book --plan FILE.yaml` --------------------------------

READS_RUNS = "settings = {}\nseeds = [0]\nruns_dir = 'runs'"  # the parameters cell of a chapter that reads runs
ALL_METHODS = {"settings": {"dataset": "fashion-mnist", "epochs": 1}, "runs": [{"method": ["std", "adv", "advplus"]}]}


def tree(root: Path) -> dict[str, int]:
    """Every file under ``root`` and its mtime: a refused plan must leave it unchanged."""
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in sorted(root.rglob("*"))}


def test_a_plan_file_outside_the_book_is_named_by_its_stem_or_its_name_key(tmp_path):
    mini_book(tmp_path / "book", {"runs": []}, {"01_a": ("x = 1",)})
    outside = tmp_path / "elsewhere" / "my-class.yaml"
    outside.parent.mkdir()
    outside.write_text(yaml.safe_dump(ALL_METHODS | {"seeds": [0, 2]}))
    plan = read_plan(outside, tmp_path / "book")
    assert (plan.profile, plan.description, plan.source) == ("my-class", "my-class", str(outside))
    assert sorted((r.method, r.seed) for r in plan.runs) == [(m, s) for m in ("adv", "advplus", "std") for s in (0, 2)]
    assert plan.chapters == ["01_a"]
    outside.write_text(yaml.safe_dump(ALL_METHODS | {"name": "week-3", "description": "eps 0.2"}))
    plan = read_plan(outside, tmp_path / "book")
    assert (plan.profile, plan.description) == ("week-3", "eps 0.2")
    # a profile of experiments/ is the same file read by name
    assert load_plan("mini", tmp_path / "book").source == "experiments/mini.yaml"


MALFORMED_PLANS = [
    ("unknown key", "runs: []\nrunz: 1\n", r"plan.yaml: unknown key 'runz'; allowed: name, description"),
    ("seeds a string", 'seeds: "a"\n', r"plan.yaml: seeds must be a list of integers >= 0; got 'a'"),
    ("seeds a number", "seeds: 3\n", r"plan.yaml: seeds must be a list of integers >= 0; got 3"),
    ("seeds of booleans", "seeds: [true]\n", r"plan.yaml: seeds must be a list of integers >= 0; got \[True\]"),
    ("settings a list", "settings: []\n", r"plan.yaml: settings must be a mapping of config fields to values; got \[\]"),
    ("runs a mapping", "runs: {}\n", r"plan.yaml: runs must be a list of mappings .*; got \{\}"),
    ("run entry a list", "runs: [[std]]\n", r"plan.yaml: runs\[0\] must be a mapping of config fields"),
    ("settings field type", 'settings: {epochs: "two"}\n', r"plan.yaml: settings.epochs must be an integer; got 'two'"),
    ("settings field bool", "settings: {pretrained: 1}\n", r"plan.yaml: settings.pretrained must be true or false; got 1"),
    ("settings unknown field", "settings: {epoch: 1}\n", r"plan.yaml: settings: unknown config field 'epoch'"),
    ("run field type", "runs: [{method: std, eps: [0.1, x]}]\n", r"plan.yaml: runs\[0\].eps must be a number; got 'x'"),
    ("run field value", "runs: [{method: sgd}]\n", r"plan.yaml: runs\[0\]: method must be one of std, adv, advplus"),
    ("description type", "description: [a]\n", r"plan.yaml: description must be a string; got \['a'\]"),
    ("bad name", "name: a b\n", r"plan.yaml: name must be letters, digits"),
    ("unknown chapter", "notebooks: {99_nope: {}}\n", (r"plan.yaml: notebooks: '99_nope' is not a chapter of _toc.yml; "
                                                       r"chapters: 01_a")),
    ("chapter entry type", "notebooks: {01_a: [1]}\n", r"plan.yaml: notebooks.01_a must be a mapping of parameters"),
    ("undeclared parameter", yaml.safe_dump(ALL_METHODS | {"notebooks": {"01_a": {"typo": 1}}}),
     (r"plan.yaml: notebooks.01_a.typo is not a parameter of notebooks/01_a.ipynb; its parameters: runs_dir, seeds, "
      r"settings")),
    ("no runs", "settings: {epochs: 1}\n", (r"plan.yaml: runs: no std run at the plan's settings \(seed 0\), which every "
                                          r"chapter that reads runs needs \(01_a\); add the entry "
                                          r"\{method: \[std, adv, advplus\]\}")),
    ("no adv run", "runs: [{method: [std, advplus]}]\n", r"plan.yaml: runs: no adv run at the plan's settings \(seed 0\)"),
    ("adv at other settings", "settings: {epochs: 2}\nruns: [{method: [std, advplus]}, {method: adv, epochs: 1}]\n",
     r"plan.yaml: runs: no adv run at the plan's settings"),
    ("adv for one seed only", "seeds: [0, 1]\nruns: [{method: [std, advplus]}, {method: adv, seed: 0}]\n",
     r"plan.yaml: runs: no adv run at the plan's settings \(seed 1\)"),
    ("not YAML", "runs: [\n  - a: b\n :x\n", r"plan .*plan.yaml: not YAML at line 2: "),
    ("not a mapping", "- a\n- b\n", r"plan .*plan.yaml: must be a YAML mapping with keys name, description, .*; got list"),
]


@pytest.mark.parametrize("text, message", [p[1:] for p in MALFORMED_PLANS], ids=[p[0] for p in MALFORMED_PLANS])
def test_a_malformed_plan_file_is_refused_in_one_line_with_exit_2_before_anything_is_written(
        tmp_path, monkeypatch, capsys, text, message):
    from labelaug_core.cli import main

    root, outside = tmp_path / "book", tmp_path / "elsewhere"
    mini_book(root, {"runs": []}, {"01_a": (READS_RUNS,)})
    outside.mkdir()
    (outside / "plan.yaml").write_text(text)
    before = tree(tmp_path)
    monkeypatch.chdir(root)
    assert main(["book", "--plan", str(outside / "plan.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("labelaug: error: ") and err.count("\n") == 1
    assert re.search(message, err), err
    assert tree(tmp_path) == before  # nothing trained, executed, copied or built


@pytest.mark.parametrize("argv, message", [
    (["book", "--plan", "nowhere.yaml"], "labelaug: error: plan nowhere.yaml: no such file"),
    (["book", "--profile", "mini", "--plan", "x.yaml"], "labelaug: error: argument --plan: not allowed with argument --profile"),
    (["status", "--plan", "nowhere.yaml"], "labelaug: error: plan nowhere.yaml: no such file"),
])
def test_plan_and_profile_flags_are_refused_before_anything_runs(tmp_path, monkeypatch, capsys, argv, message):
    from labelaug_core.cli import main

    mini_book(tmp_path, ALL_METHODS, {"01_a": (READS_RUNS,)})
    before = tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert capsys.readouterr().err == message + "\n"
    assert tree(tmp_path) == before


def test_the_repository_profiles_plan_every_run_their_chapters_read():
    import papermill

    for profile in BOOK_PROFILES:
        plan = load_plan(profile, REPO)
        declared = {n: set(papermill.inspect_notebook(str(REPO / "notebooks" / f"{n}.ipynb"))) for n in plan.chapters}
        check_required_runs(plan, declared)  # raises naming the missing run


# --- progress while a chapter executes -------------------------------------------------------

def test_cell_progress_on_a_terminal_is_a_bar_with_the_running_cells_first_line():
    import io

    from labelaug_core.book.progress import CellProgress, first_line

    assert first_line("# a comment\n\nstrong = map_runs(strong_evaluation, runs)\nmore") == \
        "strong = map_runs(strong_evaluation, runs)"
    assert first_line("x = '" + "a" * 80 + "'") == "x = '" + "a" * 52 + "..."
    out = io.StringIO()
    progress = CellProgress("09_x", 3, bars=True, file=out)
    cell = nbformat.v4.new_code_cell("ladders = ladder_tables(strong)\nfig = 1")
    progress.on_cell_execute(cell=cell, cell_index=4)
    progress.on_cell_executed(cell=cell, cell_index=4, execute_reply={})
    progress.on_cell_execute(cell=cell, cell_index=5)
    text = out.getvalue()
    assert "09_x" in text and "1/3" in text and "ladders = ladder_tables(strong)" in text
    progress.close()
    assert progress.done == 1


@pytest.mark.slow
def test_book_from_a_plan_file_outside_the_repository_reports_each_chapters_cells(tmp_path, monkeypatch, capsys):
    """`labelaug book --plan FILE` with output to a pipe (no terminal): one line per step and per cell.

    The Jupyter Book build is replaced (the mini chapters have no titles); the chapters really run."""
    from labelaug_core.book import build
    from labelaug_core.cli import main

    root, outside = tmp_path / "book", tmp_path / "elsewhere"
    mini_book(root, {"runs": []}, {"01_ok": ("x = 1", "# squares\ny = x * x", "print(y)"),
                                   "02_two": ("z = 0", "print(z)")})
    (root / "node_modules").symlink_to(REPO / "node_modules", target_is_directory=True)
    outside.mkdir()
    (outside / "lecture.yaml").write_text(yaml.safe_dump({"description": "no training", "runs": [],
                                                          "notebooks": {"01_ok": {"x": 3}}}))
    monkeypatch.setattr(build, "build_html", lambda where: Path(where) / "_build" / "html" / "index.html")
    monkeypatch.chdir(root)
    assert main(["book", "--plan", str(outside / "lecture.yaml")]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "book lecture: no training; 0 runs, 2 chapters"
    # 01_ok: its parameters cell, papermill's injected one, then its two cells; 02_two gets no parameters.
    expected = ["book: step 1/3: chapter 1/2 01_ok",
                "book: 01_ok: cell 1/4: x = 1",
                "book: 01_ok: cell 2/4: x = 3",
                "book: 01_ok: cell 3/4: y = x * x",
                "book: 01_ok: cell 4/4: print(y)",
                "book: step 2/3: chapter 2/2 02_two",
                "book: 02_two: cell 1/2: z = 0",
                "book: 02_two: cell 2/2: print(z)",
                "book: step 3/3: jupyter-book build"]
    assert [line for line in lines if line.startswith(("book: step", "book: 01_ok: cell", "book: 02_two: cell"))] == expected
    assert any(re.fullmatch(r"book: 01_ok: 4/4 cells in \d+ s", line) for line in lines)
    assert "\r" not in out  # no bar redrawn into a log
    executed = nbformat.read(root / "book" / "01_ok.ipynb", as_version=4)
    assert executed.cells[-1].outputs[0]["text"] == "9\n"
    assert sorted(p.name for p in outside.iterdir()) == ["lecture.yaml"]  # nothing written beside the plan


def test_notebook_parameters_are_checked_against_the_parameters_cell(tmp_path):
    plan = {"settings": {"dataset": "fashion-mnist", "epochs": 1}, "runs": [{"method": "std"}],
            "notebooks": {"01_a": {"x": 2}, "02_b": {"typo": 1}}}
    mini_book(tmp_path, plan, {"01_a": ("x = 1",), "02_b": ("y = 1",)})
    loaded = load_plan("mini", tmp_path)
    assert notebook_parameters(loaded, "01_a", {"x", "profile"}, tmp_path / "runs", None) == {"x": 2, "profile": "mini"}
    # The plan's settings travel as one dict `settings`, beside the common parameters.
    params = notebook_parameters(loaded, "01_a", {"x", "settings", "seeds", "runs_dir"}, tmp_path / "runs", None)
    assert params == {"x": 2, "settings": {"dataset": "fashion-mnist", "epochs": 1}, "seeds": [0],
                      "runs_dir": str(tmp_path / "runs")}
    params["settings"]["epochs"] = 5  # a copy: the plan is not changed through it
    assert loaded.settings["epochs"] == 1
    with pytest.raises(ConfigError, match=r"notebooks.02_b.typo is not a parameter of notebooks/02_b.ipynb"):
        notebook_parameters(loaded, "02_b", {"y"}, tmp_path / "runs", None)
    # A chapter that reads runs without the settings would look for runs of another config.
    with pytest.raises(ConfigError, match=r"notebooks/01_a.ipynb reads runs \(declares runs_dir\) but not `settings`"):
        notebook_parameters(loaded, "01_a", {"x", "runs_dir"}, tmp_path / "runs", None)
    # A settings field declared as a parameter of its own would keep its default, not the plan's value.
    with pytest.raises(ConfigError, match=r"notebooks/01_a.ipynb declares 'epochs' as a parameter of its own"):
        notebook_parameters(loaded, "01_a", {"x", "runs_dir", "settings", "epochs"}, tmp_path / "runs", None)


@pytest.mark.parametrize("plan, message", [
    ({"notebooks": {"01_a": {"settings": {"epochs": 2}}}}, r"notebooks.01_a.settings is given to every chapter"),
    ({"notebooks": {"01_a": {"seeds": [1]}}}, r"notebooks.01_a.seeds is given to every chapter"),
])
def test_a_chapter_entry_cannot_override_the_shared_parameters(tmp_path, plan, message):
    mini_book(tmp_path, {"runs": []} | plan, {"01_a": ("settings = {}\nseeds = [0]",)})
    with pytest.raises(ConfigError, match=message):
        notebook_parameters(load_plan("mini", tmp_path), "01_a", {"settings", "seeds"}, tmp_path / "runs", None)


def test_plan_settings_must_be_config_fields(tmp_path):
    mini_book(tmp_path, {"settings": {"epoch": 1}, "runs": []}, {"01_a": ("x = 1",)})
    with pytest.raises(ConfigError, match=r"experiments/mini.yaml: settings: unknown config field 'epoch'"):
        load_plan("mini", tmp_path)


def test_stamp_changes_with_each_input(tmp_path):
    source = tmp_path / "a.ipynb"
    write_notebook(source, "x = 1")
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text('{"clean_err": 10.0}')
    stamp = notebook_stamp(source, {"x": 1}, [run])
    assert stamp == notebook_stamp(source, {"x": 1}, [run])
    assert stamp != notebook_stamp(source, {"x": 2}, [run])
    (run / "metrics.json").write_text('{"clean_err": 11.0}')
    assert stamp != notebook_stamp(source, {"x": 1}, [run])
    (run / "metrics.json").write_text('{"clean_err": 10.0}')
    write_notebook(source, "x = 1", "print(x)")
    assert stamp != notebook_stamp(source, {"x": 1}, [run])
    assert stamp["code"] == {}  # this notebook imports nothing of labelaug_core
    # other input files (the benchmark results of the performance chapter)
    result = tmp_path / "cpu-2026-01-01.json"
    result.write_text("{}")
    with_file = notebook_stamp(source, {"x": 1}, [run], [result])
    assert with_file != notebook_stamp(source, {"x": 1}, [run])
    result.write_text('{"wall_s": 1}')
    assert with_file != notebook_stamp(source, {"x": 1}, [run], [result])


@pytest.mark.slow
def test_execute_notebook_reuses_an_unchanged_output(tmp_path):
    source, output = tmp_path / "nb.ipynb", tmp_path / "out" / "nb.ipynb"
    write_notebook(source, "x = 1", "print(x * 7)")
    stamp = {"parameters": {"x": 6}}
    assert execute_notebook(source, output, {"x": 6}, stamp, cwd=tmp_path) is True
    assert "42" in nbformat.read(output, as_version=4).cells[-1].outputs[0]["text"]
    assert json.loads(output.with_suffix(".stamp.json").read_text()) == stamp
    assert execute_notebook(source, output, {"x": 6}, stamp, cwd=tmp_path) is False
    assert execute_notebook(source, output, {"x": 6}, stamp, cwd=tmp_path, force=True) is True
    assert execute_notebook(source, output, {"x": 2}, {"parameters": {"x": 2}}, cwd=tmp_path) is True
    assert "14" in nbformat.read(output, as_version=4).cells[-1].outputs[0]["text"]


# --- the book, end to end ----------------------------------------------------------------------

@pytest.mark.slow
def test_smoke_book_has_every_chapter(smoke_book):
    html = smoke_book.root / "_build" / "html"
    assert smoke_book.index == smoke_book.root / "_build" / "html" / "index.html"
    assert "book/intro.html" in smoke_book.index.read_text()
    chapters = toc_chapters(smoke_book.root)
    assert len(chapters) >= 6
    for name in chapters:
        page = (html / "book" / f"{name}.html").read_text()
        nb = nbformat.read(smoke_book.root / "book" / f"{name}.ipynb", as_version=4)
        if "runs_dir" in nb.metadata.papermill["parameters"]:
            assert Path(nb.metadata.papermill["parameters"]["runs_dir"]) == (smoke_book.root / "runs").resolve()
        assert not any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))
        assert "cell_output" in page  # rendered outputs, not just sources
    print(f"smoke book built in {smoke_book.build_s:.0f} s")


@pytest.mark.slow
def test_slider_state_is_saved_in_the_executed_notebook_and_page(smoke_book):
    nb = nbformat.read(smoke_book.root / "book" / "02_label_augmentation_targets.ipynb", as_version=4)
    state = nb.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"]
    by_name = {}
    for model_id, model in state.items():
        by_name.setdefault(model["model_name"], []).append((model_id, model))
    [(stack_id, stack)] = by_name["StackModel"]
    [(slider_id, slider)] = by_name["SelectionSliderModel"]
    deltas = nb.metadata.papermill["parameters"]["deltas"]
    assert slider["state"]["_options_labels"] == [f"{float(d):g}" for d in deltas]
    assert len(stack["state"]["children"]) == len(deltas)
    [(_, link)] = by_name["LinkModel"]
    assert link["state"]["source"] == [f"IPY_MODEL_{slider_id}", "index"]
    assert link["state"]["target"] == [f"IPY_MODEL_{stack_id}", "selected_index"]
    page = (smoke_book.root / "_build" / "html" / "book" / "02_label_augmentation_targets.html").read_text()
    assert 'type="application/vnd.jupyter.widget-state+json"' in page
    assert "_static/jupyter-widgets/embed-amd.js" in page and "_static/jupyter-widgets/require.js" in page


@pytest.mark.slow
def test_site_references_no_other_host(smoke_book):
    """Scripts, styles and fonts all come from the site itself (links to papers may point out)."""
    import re

    html = smoke_book.root / "_build" / "html"
    pages = list(html.rglob("*.html"))
    assert pages
    for page in pages:
        text = page.read_text()
        external = re.findall(r'<(?:script|link|img|iframe)[^>]*(?:src|href)="(?:https?:)?//[^"]*"', text)
        assert external == [], f"{page}: {external}"
    for asset in ("jupyter-widgets/require.js", "jupyter-widgets/embed-amd.js", "widgets-setup.js",
                  "mathjax/tex-chtml-full.js"):
        assert (html / "_static" / asset).is_file()


@pytest.mark.slow
def test_second_build_with_nothing_changed_is_fast_and_executes_nothing(smoke_book):
    root = smoke_book.root
    outputs = (sorted((root / "book").glob("*.ipynb")) + sorted((root / "runs").glob("*/evaluation/*/metrics.json"))
               + sorted((root / "runs").glob("*/checkpoint.pt")))
    assert len(outputs) > 20
    before = {p: p.stat().st_mtime_ns for p in outputs}
    started = time.perf_counter()
    index = build_book("smoke", root=root, progress=False)
    elapsed = time.perf_counter() - started
    assert index.is_file()
    assert {p: p.stat().st_mtime_ns for p in outputs} == before  # nothing trained or executed again
    assert elapsed < 60, f"second build took {elapsed:.0f} s"


@pytest.mark.slow
def test_failing_notebook_stops_the_build_with_its_path_and_error(tmp_path):
    mini_book(tmp_path, {"runs": []}, {"01_ok": ("x = 1", "print(x)"), "02_bad": ("y = 0", "print('before')", "1 / y")})
    shutil.copy2(REPO / "_config.yml", tmp_path / "_config.yml")
    (tmp_path / "node_modules").symlink_to(REPO / "node_modules", target_is_directory=True)
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-m", "labelaug_core", "book", "--profile", "mini"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert str(tmp_path / "notebooks" / "02_bad.ipynb") in result.stderr
    assert "ZeroDivisionError" in result.stderr
    kept = nbformat.read(tmp_path / "book" / "02_bad.ipynb", as_version=4)  # partly executed, kept
    cells = {c.source: c for c in kept.cells if c.cell_type == "code"}
    assert cells["print('before')"].outputs[0]["text"] == "before\n"
    assert cells["1 / y"].outputs[0]["ename"] == "ZeroDivisionError"
    assert not (tmp_path / "book" / "02_bad.stamp.json").exists()  # so the next build runs it again
    assert (tmp_path / "book" / "01_ok.stamp.json").exists()
    assert not (tmp_path / "_build" / "html" / "index.html").exists()


def test_missing_widget_javascript_is_reported(tmp_path):
    with pytest.raises(BookError, match="npm ci"):
        install_static_assets(tmp_path)


def test_a_chapter_stamp_holds_the_code_it_runs_and_nothing_else(tmp_path):
    from labelaug_core.book.build import notebook_code

    source = tmp_path / "n.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from labelaug_core.runs.store import find_runs\nfrom labelaug_core.runs.strong import strong_evaluation\n"
        "from labelaug_core.report.style import PALETTE")]), source)
    assert notebook_code(source) == ("labelaug_core.report.style", "labelaug_core.runs.store", "labelaug_core.runs.strong")
    three = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("from labelaug_core.runs.store import find_runs")])
    nbformat.write(three, tmp_path / "m.ipynb")
    stamp = notebook_stamp(tmp_path / "m.ipynb", {}, [])
    assert "labelaug_core.runs.store" in stamp["code"] and "labelaug_core.attacks.apgd" not in stamp["code"]
    assert "labelaug_core.attacks.apgd" in notebook_stamp(source, {}, [])["code"]


@pytest.mark.slow
def test_site_served_under_a_sub_path_resolves_every_local_link_script_and_style(smoke_book, tmp_path):
    """Published at http://host/labelaug/ (README: Publishing the book), every page's local
    href/src (links, scripts, styles, images) answers 200: the site uses relative paths only."""
    import functools
    import http.server
    import threading
    import urllib.error
    import urllib.request
    from html.parser import HTMLParser
    from urllib.parse import urldefrag, urljoin, urlparse

    class References(HTMLParser):
        def __init__(self):
            super().__init__()
            self.found = []

        def handle_starttag(self, tag, attrs):
            self.found += [value for name, value in attrs if name in ("href", "src") and value]

    (tmp_path / "labelaug").symlink_to(smoke_book.root / "_build" / "html", target_is_directory=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}/labelaug/"
    checked, broken = set(), []
    try:
        site = smoke_book.root / "_build" / "html"  # pages, not the theme's Jinja templates under _static/
        pages = sorted(p for p in site.rglob("*.html") if "_static" not in p.relative_to(site).parts)
        assert len(pages) >= 12
        for page in pages:
            url = urljoin(base, str(page.relative_to(smoke_book.root / "_build" / "html")))
            parser = References()
            parser.feed(urllib.request.urlopen(url).read().decode())
            for ref in parser.found:
                target = urldefrag(urljoin(url, ref)).url
                if urlparse(target).scheme not in ("http", "https") or not target.startswith(base[:-len("labelaug/")]):
                    continue  # mailto:, data:, javascript:, and links to papers on other hosts
                assert target.startswith(base), f"{url}: {ref} leaves the sub-path"
                if target in checked:
                    continue
                checked.add(target)
                try:
                    urllib.request.urlopen(target).close()
                except urllib.error.HTTPError as exc:
                    broken.append(f"{url}: {ref} -> {exc.code}")
    finally:
        server.shutdown()
        server.server_close()
    assert broken == []
    assert any(urlparse(t).path.endswith("_static/jupyter-widgets/embed-amd.js") for t in checked)  # ?v=... cache-busting


# --- readable pages: tools/tidy_notebooks.py -----------------------------------------------------

def load_tool(name: str):
    """A script of tools/ (not a package), imported by path: tools/NAME.py."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tidy_notebooks_tags_plumbing_and_unnumbers_headings_idempotently():
    tidy = load_tool("tidy_notebooks")
    cells = [nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
             nbformat.v4.new_code_cell("import pandas as pd\nfrom a import b\nruns = find_runs(runs_dir)"),
             nbformat.v4.new_code_cell("examples = pgd(model, x, y, eps)"),  # an attack: shown
             nbformat.v4.new_code_cell("table1(all_runs)"),  # a table the reader reads: shown
             nbformat.v4.new_code_cell("text = f(runs)\ndisplay(Markdown(text))"),
             nbformat.v4.new_markdown_cell("## 1. Error under attacks\n### 2.3 Steps\n## Why 2 steps"),
             nbformat.v4.new_code_cell("runs = find_runs(runs_dir)\nall_runs = run_list(runs)"),  # plumbing
             # a prose cell importing only what it uses: the prose is shown, not the code
             nbformat.v4.new_code_cell("from m import paragraph\ndisplay(Markdown(paragraph(runs)))"),
             # imports for later cells, then prose: shown (in every chapter, functions come from somewhere)
             nbformat.v4.new_code_cell("from m import paragraph, table\ndisplay(Markdown(paragraph(runs)))")]
    assert tidy.tidy_cells(cells) is True
    assert [c.metadata.get("tags") for c in cells[:5]] == [["parameters", "hide-input"], None, None, None,
                                                          ["remove-input"]]
    assert [c.metadata.get("tags") for c in cells[6:]] == [["hide-input"], ["remove-input"], None]
    assert "".join(cells[5]["source"]) == "## Error under attacks\n### Steps\n## Why 2 steps"
    assert tidy.tidy_cells(cells) is False  # idempotent
    long = "x = 1  # " + "word " * 30 + "\n# " + "other " * 20 + "\nprint('# not a comment " + "z" * 80 + "')"
    wrapped = tidy.wrap_comments(long)
    lines = wrapped.splitlines()
    assert all(len(line) <= 88 for line in lines[:-1]) and lines[-1] == long.splitlines()[-1]  # strings untouched
    assert "x = 1" in lines  # the code stays, below its comment
    assert sorted(" ".join(lines[:-1]).replace("#", "").split()) == sorted(("word " * 30 + "other " * 20 + "x = 1").split())
    assert tidy.wrap_comments(wrapped) == wrapped


@pytest.mark.parametrize("path", sorted((REPO / "notebooks").glob("*.ipynb")), ids=lambda p: p.stem)
def test_notebooks_hide_plumbing_have_no_numbered_headings(path):
    tidy = load_tool("tidy_notebooks")
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        tags = cell.get("metadata", {}).get("tags", [])
        if cell["cell_type"] == "code" and tidy.cell_tag(source, tags):
            assert tidy.cell_tag(source, tags) in tags, f"{path.name}: run tools/tidy_notebooks.py ({source[:60]!r})"
        if cell["cell_type"] == "code" and "parameters" in tags:
            assert "hide-input" in tags
        if cell["cell_type"] == "code":  # comments fit the code box (long strings: not yet, see the report)
            assert tidy.wrap_comments(source) == source, f"{path.name}: run tools/tidy_notebooks.py"
        if cell["cell_type"] == "markdown":
            numbered = [line for line in source.splitlines() if re.match(r"#{1,6}\s+\d", line)]
            assert numbered == [], f"{path.name}: {numbered}"


def test_a_publish_only_plan_builds_no_book_and_may_not_name_chapters(tmp_path, capsys, monkeypatch):
    from labelaug_core.cli import main

    monkeypatch.chdir(REPO)
    assert load_plan("verdict", REPO).publish_only
    assert main(["book", "--profile", "verdict"]) == 2
    assert "publish_only plan builds no book" in capsys.readouterr().err
    plan = tmp_path / "p.yaml"
    plan.write_text("publish_only: true\nruns: [{method: std}]\nnotebooks: {03_average_error: {}}\n")
    with pytest.raises(ConfigError, match="publish_only plan builds no book"):
        read_plan(plan, REPO)
    plan.write_text("publish_only: yes please\n")
    with pytest.raises(ConfigError, match="publish_only must be true or false"):
        read_plan(plan, REPO)
