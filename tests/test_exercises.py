"""The exercises run: every command on the course page and in the chapters' exercises, at smoke size.

Each chapter's notebook ends with a markdown cell "## Exercises"; a change of the plan there is a
```diff block against the copied plan (`cp experiments/X.yaml my.yaml`; the default plan unless the
exercise or its intro copies another). Here:

- every shell command of those cells and of book/course.md maps to a test that runs it
  (:data:`COMMANDS`; a command with no entry fails, naming it);
- every diff applies to its plan, the patched plan loads (`labelaug book --plan`'s reader) and
  gives every chapter valid parameters, and the exercise's claim about training is true (its
  text says exactly one of :data:`CLAIMS`): the run ids it needs against the plan's;
- the chapter-parameter exercises are executed, one chapter at a time, on the smoke book's runs
  with the same change made to experiments/smoke.yaml (key by key, sizes capped by
  :data:`SMOKE_CAPS`); of the exercises that train, one (two weak classes) runs end to end;
- a chapter opened by hand after `make book` runs with its own defaults (the default plan's).
"""
from __future__ import annotations

import ast
import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from labelaug_core.book.plan import notebook_parameters, read_plan
from labelaug_core.config import EVAL_FIELDS, TrainConfig

from test_book import REPO, load_tool, smoke_book  # noqa: F401  (the session's smoke book, built once)

BIN = Path(sys.executable).parent
DEFAULT = "fashion-mnist-cpu"

# What an exercise's text says about training; each exercise with a diff says exactly one
# (or its chapter's intro does).
CLAIMS = {"nothing is retrained": "nothing", "re-evaluates": "re-evaluates", "trains new runs": "trains"}

# Every command of the exercises and of book/course.md -> the test that runs it (at smoke size).
HERE = "tests/test_exercises.py::"
COMMANDS = {
    "cp experiments/fashion-mnist-cpu.yaml my.yaml": HERE + "test_copy_commands_run_literally",
    "cp experiments/fashion-mnist-cpu.yaml ~/my.yaml": HERE + "test_copy_commands_run_literally",
    "cp experiments/imagenet-gpu.yaml my.yaml": HERE + "test_copy_commands_run_literally",
    "cp experiments/la-design.yaml my-design.yaml": HERE + "test_copy_commands_run_literally",
    # the chapters' parameter exercises executed on the smoke runs; one training exercise end to end
    "labelaug book --plan my.yaml": HERE + "test_chapter_exercises_run_at_smoke_size",
    "labelaug book --plan ~/my.yaml": HERE + "test_a_training_exercise_runs_end_to_end_at_smoke_size",
    "labelaug status --plan ~/my.yaml": HERE + "test_status_of_a_copied_plan_names_the_runs_it_would_train",
    "labelaug book --profile fashion-mnist-cpu": "tests/test_book.py::test_smoke_book_has_every_chapter",
    "make book": "tests/test_book.py::test_smoke_book_has_every_chapter",
    "labelaug book --profile imagenet-gpu": "tests/test_imagenet_book.py::test_every_chapter_of_the_imagenet_profile_builds",
    "make verdict": "tests/test_published.py::test_a_screened_plan_confirms_the_rules_choice_on_fresh_seeds_with_matched_controls",
    "labelaug publish --plan my-design.yaml --out results/la-design --paper-style-subset 1000":
        HERE + "test_publish_exercise_runs_at_smoke_size",
    "jupyter lab notebooks/04_classwise_error.ipynb": HERE + "test_a_chapter_opened_by_hand_runs_with_its_own_defaults",
    "labelaug bench": HERE + "test_bench_and_chapter_12_on_its_folder",
    "OMP_NUM_THREADS=1 labelaug bench --out my-results-1": HERE + "test_bench_and_chapter_12_on_its_folder",
    "OMP_NUM_THREADS=2 labelaug bench --out my-results-2": HERE + "test_bench_and_chapter_12_on_its_folder",
    "papermill notebooks/12_performance.ipynb my-results-1.ipynb -p results_dir my-results-1":
        HERE + "test_bench_and_chapter_12_on_its_folder",
}
PREFIXES = ("labelaug ", "cp ", "jupyter ", "make ", "torchrun ", "OMP_NUM_THREADS=", "papermill ", "python ")

# Chapters that cannot run here (ImageNet): their exercises are checked on the plan only.
NOT_EXECUTED = {"08_imagenet_x": "tests/test_imagenet_book.py runs the chapter on a tiny ImageNet stand-in",
                "06_reproduction_report": "its exercise 4 (la-design) runs in test_publish_exercise_runs_at_smoke_size"}
# Sizes of an exercise made smoke-sized when executed (the value the exercise sets, at most this).
SMOKE_CAPS = {"n_images": 50, "strong_subset": 50, "checks_subset": 50, "square_queries": 100,
              "temperature_subset": 50, "temperature_heldout": 50, "heldout_size": 100, "eval_subset": 50,
              "apgd_steps": 10, "pgd_restarts": 2, "steps_values": 20, "step_counts": 20, "temperature_steps": 20}


# --- reading the exercises ---------------------------------------------------------------------

def exercise_cells() -> dict[str, str]:
    out = {}
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        cells = [c.source for c in nbformat.read(path, as_version=4).cells
                 if c.cell_type == "markdown" and c.source.startswith("## Exercises")]
        assert len(cells) == 1, f"{path.name}: one markdown cell starting '## Exercises'"
        out[path.stem] = cells[0]
    return out


_FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```", re.M | re.S)
_ITEM = re.compile(r"^(\d+)\. ", re.M)


def split_exercises(text: str) -> tuple[str, list[str]]:
    """The intro and the numbered exercises of an Exercises cell."""
    starts = [m.start() for m in _ITEM.finditer(text)]
    return text[:starts[0]], [text[a:b] for a, b in zip(starts, starts[1:] + [len(text)])]


def diff_blocks(text: str) -> list[str]:
    return ["".join(line[len(m.group(1)):] for line in m.group(3).splitlines(keepends=True))
            for m in _FENCE.finditer(text) if m.group(2) == "diff"]


def prose(text: str) -> str:
    return " ".join(_FENCE.sub(" ", text).split())


def copied_plan(text: str) -> str | None:
    found = re.findall(r"`cp experiments/([\w.-]+)\.yaml [^`]+`", text)
    return found[-1] if found else None


def claims(text: str) -> set[str]:
    words = prose(text).lower()
    return {kind for phrase, kind in CLAIMS.items() if phrase in words}


def exercises() -> list[tuple[str, int, str, list[str], str | None]]:
    """(chapter, number, plan profile, diff blocks, claim) of every exercise with a diff."""
    out = []
    for chapter, text in exercise_cells().items():
        intro, items = split_exercises(text)
        for number, item in enumerate(items, 1):
            blocks = diff_blocks(item)
            if not blocks:
                continue
            said = claims(item) or claims(intro)
            assert len(said) == 1, f"{chapter} exercise {number}: says {sorted(said) or 'nothing'} about training; " \
                                   f"say exactly one of {list(CLAIMS)}"
            out.append((chapter, number, copied_plan(item) or copied_plan(intro), blocks, said.pop()))
    return out


EXERCISES = exercises()


def apply_diff(text: str, block: str) -> str:
    """``text`` with the diff ``block`` applied (' ' context, '-' removed, '+' added lines, one
    hunk that must match exactly one place)."""
    lines = block.splitlines()
    bad = [line for line in lines if not line[:1] in (" ", "-", "+")]
    assert not bad, f"not a diff line: {bad[0]!r}"
    old = [line[1:] for line in lines if line[0] in " -"]
    new = [line[1:] for line in lines if line[0] in " +"]
    have = text.split("\n")
    at = [i for i in range(len(have) - len(old) + 1) if have[i:i + len(old)] == old]
    assert len(at) == 1, f"the diff's old lines {old} match {len(at)} places of the plan, not one"
    return "\n".join(have[:at[0]] + new + have[at[0] + len(old):])


def patched(profile: str, block: str) -> str:
    """The plan ``profile`` changed by one diff block (two blocks of one exercise are two builds,
    each from the copied plan)."""
    return apply_diff((REPO / "experiments" / f"{profile}.yaml").read_text(), block)


def needed(plan) -> tuple[set[str], set[tuple]]:
    """The run ids a plan trains (as `labelaug status` lists them; a confirmation stage adds its
    fresh seeds, whose runs follow the screen) and the evaluations it makes of them."""
    ids = {config.run_id for config in plan.runs}
    if plan.confirm:
        ids |= {f"confirmation seed {seed}" for seed in plan.confirm["seeds"]}
    evaluations = {(config.run_id, *(getattr(config, k) for k in EVAL_FIELDS)) for config in plan.runs}
    return ids, evaluations


def changes(old, new, path=()):
    """(path, value) of every value that ``new`` sets differently from ``old`` (YAML, anchors resolved)."""
    if isinstance(old, dict) and isinstance(new, dict):
        assert set(old) <= set(new), f"{path}: an exercise removes {sorted(set(old) - set(new))}"
        for key in new:
            yield from changes(old[key], new[key], path + (key,)) if key in old else [(path + (key,), new[key])]
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new) and all(
            isinstance(v, dict) for v in old + new):
        for i, (a, b) in enumerate(zip(old, new)):
            yield from changes(a, b, path + (i,))
    elif old != new:
        yield path, new


def set_path(data, path, value):
    for key in path[:-1]:
        data = data.setdefault(key, {}) if isinstance(data, dict) else data[key]
    data[path[-1]] = value


def smoke_sized(path, value):
    if path and path[-1] in SMOKE_CAPS and isinstance(value, int):
        return min(value, SMOKE_CAPS[path[-1]])
    if path and path[-1] in SMOKE_CAPS and isinstance(value, list):  # step counts: each at most the cap
        return sorted({min(v, SMOKE_CAPS[path[-1]]) for v in value})
    return value


def exercise_changes(profile: str, blocks: list[str]) -> list[tuple[tuple, object]]:
    old = yaml.safe_load((REPO / "experiments" / f"{profile}.yaml").read_text())
    return [change for block in blocks for change in changes(old, yaml.safe_load(patched(profile, block)))]


def ids(item):
    return f"{item[0][:2]}-ex{item[1]}"


# --- every command has a test that runs it -------------------------------------------------------

def commands_in(text: str) -> list[str]:
    found = []
    for m in _FENCE.finditer(text):
        if m.group(2) in ("bash", "sh", "shell", "console"):
            found += [line.split("  #")[0].strip() for line in m.group(3).splitlines() if line.strip()]
    for span in re.findall(r"`([^`\n]+)`", _FENCE.sub(" ", text)):
        if span.startswith(PREFIXES):
            found.append(" ".join(span.split()))
    return found


def all_commands() -> dict[str, str]:
    """command -> where it is written."""
    sources = {f"notebooks/{name}.ipynb": text for name, text in exercise_cells().items()}
    sources["book/course.md"] = (REPO / "book" / "course.md").read_text()
    out = {}
    for where, text in sources.items():
        for command in commands_in(text):
            out.setdefault(command, where)
    return out


def test_every_command_of_the_exercises_and_the_course_page_has_a_test_that_runs_it():
    found = all_commands()
    missing = {c: where for c, where in found.items() if c not in COMMANDS}
    assert not missing, "commands with no entry in tests/test_exercises.py COMMANDS (say how each is run at " \
                        f"smoke size): {missing}"
    for command, test in COMMANDS.items():
        path, name = test.split("::")
        assert re.search(rf"^def {name}\(", (REPO / path).read_text(), re.M), f"{command!r}: no test {test}"
    stale = sorted(set(COMMANDS) - set(found))
    assert not stale, f"COMMANDS lists commands that no text has any more: {stale}"


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.startswith("cp ")])
def test_copy_commands_run_literally(command, tmp_path):
    shutil.copytree(REPO / "experiments", tmp_path / "experiments")
    (tmp_path / "home").mkdir()
    subprocess.run(command, shell=True, cwd=tmp_path, check=True, env=os.environ | {"HOME": str(tmp_path / "home")})
    source, target = shlex.split(command)[1:]
    target = Path(target.replace("~", str(tmp_path / "home"))) if target.startswith("~") else tmp_path / target
    assert target.read_text() == (REPO / source).read_text()


# --- the diffs, the plans and the claims ---------------------------------------------------------

def test_every_exercise_that_changes_a_plan_is_found():
    chapters = {e[0] for e in EXERCISES}
    assert len(EXERCISES) >= 25 and {"01_adversarial_examples", "11_weakest_class_defences"} <= chapters
    for chapter, number, profile, _, _ in EXERCISES:
        assert profile, f"{chapter} exercise {number}: no `cp experiments/X.yaml ...` says which plan the diff is against"


@pytest.mark.parametrize("exercise", EXERCISES, ids=ids)
def test_the_diff_applies_the_plan_loads_and_the_claim_about_training_is_true(exercise, tmp_path):
    chapter, number, profile, blocks, claim = exercise
    name = f"{chapter} exercise {number}"
    default = read_plan(REPO / "experiments" / f"{profile}.yaml", REPO)
    for block in blocks:
        check_block(name, profile, default, block, claim, tmp_path)


@functools.lru_cache(maxsize=None)
def declared_parameters(chapter_name: str) -> frozenset[str]:
    """The parameters a chapter's notebook declares (papermill reads them; once per chapter)."""
    import papermill

    return frozenset(papermill.inspect_notebook(str(REPO / "notebooks" / f"{chapter_name}.ipynb")))


def check_block(name, profile, default, block, claim, tmp_path):
    (tmp_path / "my.yaml").write_text(patched(profile, block))
    plan = read_plan(tmp_path / "my.yaml", REPO)  # what `labelaug book --plan my.yaml` reads
    for chapter_name in plan.chapters:  # every chapter would get valid parameters
        notebook_parameters(plan, chapter_name, set(declared_parameters(chapter_name)), tmp_path / "runs", None)
    (runs, evaluations), (runs0, evaluations0) = needed(plan), needed(default)
    if claim == "trains":
        assert runs - runs0, f"{name} says it trains new runs, but needs none beyond {profile}'s"
    elif claim == "re-evaluates":
        assert runs <= runs0, f"{name} says it re-evaluates, but trains {sorted(runs - runs0)}"
        assert evaluations - evaluations0, f"{name} says it re-evaluates, but every evaluation is {profile}'s"
    else:
        assert runs <= runs0, f"{name} says nothing is retrained, but trains {sorted(runs - runs0)}"
        assert evaluations <= evaluations0, f"{name} says nothing is retrained, but evaluates anew"


# --- the exercises at smoke size -----------------------------------------------------------------

@pytest.fixture(scope="module")
def smoke_runs(smoke_book, tmp_path_factory):  # noqa: F811
    """A copy of the smoke book's runs (the exercises add evaluations and runs to it)."""
    runs = tmp_path_factory.mktemp("exercise_runs") / "runs"
    shutil.copytree(smoke_book.root / "runs", runs)
    return runs


def smoke_plan(tmp_path: Path, root: Path, edits: list[tuple[tuple, object]], name="my"):
    data = yaml.safe_load((REPO / "experiments" / "smoke.yaml").read_text())
    for path, value in edits:
        set_path(data, path, smoke_sized(path, value))
    (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return read_plan(tmp_path / f"{name}.yaml", root)


def execute_chapter(plan, chapter: str, root: Path, runs: Path, out: Path) -> Path:
    """Chapter ``chapter`` executed as `labelaug book` executes it (no HTML)."""
    import papermill

    from labelaug_core.book.build import execute_notebook

    source = root / "notebooks" / f"{chapter}.ipynb"
    parameters = notebook_parameters(plan, chapter, set(papermill.inspect_notebook(str(source))), runs,
                                     os.environ.get("LABELAUG_DATA"))
    output = out / f"{chapter}.ipynb"
    execute_notebook(source, output, parameters, {}, cwd=root, force=True)
    return output


def chapter_only_exercises() -> dict[str, list]:
    """Chapter -> the changes of its exercises that retrain nothing (executed together, in order)."""
    out: dict[str, list] = {}
    for chapter, _, profile, blocks, claim in EXERCISES:
        if claim == "nothing" and profile == DEFAULT:
            out.setdefault(chapter, []).extend(exercise_changes(profile, blocks))
    return out


CHAPTER_ONLY = chapter_only_exercises()


@pytest.mark.slow
@pytest.mark.parametrize("chapter", sorted(CHAPTER_ONLY))
def test_chapter_exercises_run_at_smoke_size(chapter, smoke_book, smoke_runs, tmp_path):  # noqa: F811
    """The chapter's parameter exercises, all at once, executed on the smoke runs."""
    edits = CHAPTER_ONLY[chapter]
    assert all(path[0] == "notebooks" for path, _ in edits), f"{chapter}: {edits}"
    plan = smoke_plan(tmp_path, smoke_book.root, edits)
    output = execute_chapter(plan, chapter, smoke_book.root, smoke_runs, tmp_path)
    injected = nbformat.read(output, as_version=4).metadata.papermill["parameters"]
    for path, value in edits:
        if path[1] == chapter:
            assert injected[path[2]] == smoke_sized(path, value)


def test_every_exercise_is_executed_or_said_why_not():
    """Chapter parameters: executed here. Training or re-evaluating (settings, seeds, runs): the plan
    and claim checks above, and one of them end to end. Another plan: its own test."""
    for chapter, number, profile, _, claim in EXERCISES:
        if profile == DEFAULT and claim == "nothing":
            assert chapter in CHAPTER_ONLY and chapter not in NOT_EXECUTED
        elif profile != DEFAULT:
            assert chapter in NOT_EXECUTED or profile == "la-design", f"{chapter} exercise {number}: plan {profile}"


@pytest.mark.slow
def test_a_training_exercise_runs_end_to_end_at_smoke_size(smoke_book, smoke_runs, tmp_path):  # noqa: F811
    """Chapter 11's two weak classes: the two class-weighted runs are trained, the rest reused, and
    the chapter reads the new ones."""
    from labelaug_core.book.build import check_run_inputs
    from labelaug_core.runs.status import run_status
    from labelaug_core.runs.training import ensure_run

    (exercise,) = [e for e in EXERCISES if e[0] == "11_weakest_class_defences" and "6,2" in "".join(e[3])]
    plan = smoke_plan(tmp_path, smoke_book.root, exercise_changes(DEFAULT, exercise[3]))
    data_dir = os.environ.get("LABELAUG_DATA")
    missing = [r["name"] for r in run_status(plan, smoke_runs) if r["status"] == "missing"]
    assert len(missing) == 2  # the Adv and Adv+ runs weighted towards classes 6 and 2
    check_run_inputs(plan, smoke_runs, data_dir, None)
    for config in plan.runs:
        ensure_run(config, smoke_runs, data_dir=data_dir, progress=False)
    assert not [r for r in run_status(plan, smoke_runs) if r["status"] == "missing"]
    output = execute_chapter(plan, "11_weakest_class_defences", smoke_book.root, smoke_runs, tmp_path)
    assert nbformat.read(output, as_version=4).metadata.papermill["parameters"]["weak_classes"] == "6,2"


@pytest.mark.slow
def test_status_of_a_copied_plan_names_the_runs_it_would_train(smoke_book, smoke_runs, tmp_path, monkeypatch,  # noqa: F811
                                                                capsys):
    from labelaug_core.cli import main

    (seeds,) = [e for e in EXERCISES if e[0] == "03_average_error" and e[1] == 1]
    smoke_plan(tmp_path, smoke_book.root, exercise_changes(DEFAULT, seeds[3]))
    monkeypatch.chdir(smoke_book.root)
    assert main(["status", "--plan", str(tmp_path / "my.yaml"), "--runs-dir", str(smoke_runs)]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("run ")]
    status = {name: " ".join(rest) for _, name, *rest in rows}
    assert sum(s == "missing" for s in status.values()) == 18  # seeds 1 and 2 of the 9 runs
    assert sum(s == "finished" for s in status.values()) >= 9


@pytest.mark.slow
def test_publish_exercise_runs_at_smoke_size(tmp_path, monkeypatch, capsys):
    """Chapter 6's exercise 4: the command line as written, on la-design made tiny (its settings and
    screen those of tests/test_published.py), with the exercise's confirmation seeds."""
    from labelaug_core.cli import main

    (exercise,) = [e for e in EXERCISES if e[2] == "la-design"]
    (block,) = exercise[3]
    design = yaml.safe_load(patched("la-design", block))
    assert design["confirm"]["seeds"] == [3, 4, 5, 6, 7]
    design["settings"] = {"dataset": "fashion-mnist", "epochs": 1, "train_subset": 300, "test_subset": 100,
                          "eval_subset": 0, "batch_size": 50, "steps": 2, "eval_steps": 3, "eps": 0.03}
    design["runs"] = [{"method": ["adv", "advplus"], "delta": 0.3}]
    (tmp_path / "my-design.yaml").write_text(yaml.safe_dump(design))
    command = next(c for c in COMMANDS if c.startswith("labelaug publish"))
    argv = shlex.split(command)[1:]
    argv[argv.index("--paper-style-subset") + 1] = "20"  # smoke size
    argv += ["--strong-subset", "10", "--apgd-steps", "3", "--pgd-restarts", "1", "--n-target-classes", "2",
             "--runs-dir", str(tmp_path / "runs"), "--no-progress"]
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 0, capsys.readouterr().err
    manifest = json.loads((tmp_path / "results" / "la-design" / "manifest.json").read_text())
    assert len(manifest["confirm"]["runs"]) == 2 * 5  # the chosen setting and its matched Adv on each seed


@pytest.mark.slow
def test_bench_and_chapter_12_on_its_folder(tmp_path):
    """`OMP_NUM_THREADS=1 labelaug bench --out DIR` (--quick: smoke size), then the chapter on DIR
    with the papermill command of its exercise (a committed result beside the quick one)."""
    out = tmp_path / "my-results-1"
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-m", "labelaug_core", "bench", "--quick", "--out", str(out)], env=env,
                   check=True, capture_output=True, cwd=tmp_path)
    assert list(out.glob("*-quick.json"))
    committed = sorted((REPO / "benchmarks" / "results").glob("cpu-*.json"))[-1]
    shutil.copy2(committed, out / committed.name)
    command = next(c for c in COMMANDS if c.startswith("papermill "))
    argv = shlex.split(command)
    argv[0] = str(BIN / "papermill")
    argv[1] = str(REPO / argv[1])
    argv[argv.index("results_dir") + 1] = str(out)
    subprocess.run(argv + ["--kernel", "python3"], env=env, check=True, capture_output=True, cwd=tmp_path)
    executed = nbformat.read(tmp_path / "my-results-1.ipynb", as_version=4)
    assert "No benchmark results" not in json.dumps(executed.cells[-4:])


# --- a chapter opened by hand runs with its own defaults -----------------------------------------



def test_notebook_defaults_are_the_default_profiles_parameters():
    """Opened by hand after `make book` (kernel in notebooks/), a chapter reads the default profile's
    runs: its parameters cell holds what experiments/fashion-mnist-cpu.yaml passes it."""
    tool = load_tool("notebook_defaults")
    wrong = tool.differences()
    assert not wrong, f"run `{tool.COMMAND}`:\n" + "\n".join(wrong)


def test_the_defaults_tool_rewrites_only_the_named_assignments_and_keeps_comments():
    tool = load_tool("notebook_defaults")
    source = ("# Parameters. the defaults here are the smoke\n# profile's, so that\n# this notebook runs by hand "
              "after `labelaug book --profile smoke`.\nsettings = {\n    \"epochs\": 1,\n}\nseeds = [0]\n"
              "n = (\n    5  # images\n)\nother = 1  # kept")
    new = tool.rewrite_defaults(source, {"settings": {"epochs": 5, "dataset": "x"}, "seeds": [0], "n": 7})
    assert tool.cell_defaults(new) == {"settings": {"epochs": 5, "dataset": "x"}, "seeds": [0], "n": 7, "other": 1}
    assert "n = 7  # images" in new and "other = 1  # kept" in new and "after `make book`" in new
    assert tool.rewrite_defaults(new, {"n": 7}) == new


def stand_in_default_runs(smoke_runs: Path, runs: Path) -> None:
    """The default profile's Std, Adv and Adv+ (seed 0) as copies of the smoke runs: the run ids and
    evaluation folders that `make book` makes, without its 5 minutes of training."""
    from labelaug_core.book.plan import load_plan
    from labelaug_core.runs.evaluation import evaluation_artifact, evaluation_dir

    default, smoke = load_plan(DEFAULT, REPO), load_plan("smoke", REPO)
    for method in ("std", "adv", "advplus"):
        want = TrainConfig.from_dict(default.settings | {"method": method, "seed": 0}).resolved()
        have = TrainConfig.from_dict(smoke.settings | {"method": method, "seed": 0}).resolved()
        shutil.copytree(smoke_runs / have.run_id, runs / want.run_id, ignore=shutil.ignore_patterns("evaluation"))
        artifact = evaluation_artifact(want, runs / want.run_id)
        shutil.copytree(evaluation_dir(have, smoke_runs / have.run_id), artifact.stem)
        artifact.mark_done()


@pytest.mark.slow
def test_a_chapter_opened_by_hand_runs_with_its_own_defaults(smoke_runs, tmp_path):
    """`jupyter lab notebooks/04_classwise_error.ipynb` after `make book`: JupyterLab is installed,
    and the chapter, run in notebooks/ with no parameter injected, finds the runs of `make book`."""
    from labelaug_core.book.build import execute_notebook

    version = subprocess.run([str(BIN / "jupyter"), "lab", "--version"], capture_output=True, text=True, check=True)
    assert re.fullmatch(r"4\.\d+\.\d+", version.stdout.strip())
    stand_in_default_runs(smoke_runs, tmp_path / "runs")
    (tmp_path / "notebooks").mkdir()
    source = tmp_path / "notebooks" / "04_classwise_error.ipynb"
    shutil.copy2(REPO / "notebooks" / source.name, source)
    output = execute_notebook(source, tmp_path / "out.ipynb", {}, {}, cwd=tmp_path / "notebooks", force=True)
    assert output
    defaults = [c for c in nbformat.read(tmp_path / "out.ipynb", as_version=4).cells
                if "parameters" in c.metadata.get("tags", [])]
    assert ast.literal_eval(defaults[0].source.split("seeds = ")[1].split("\n")[0]) == [0]
