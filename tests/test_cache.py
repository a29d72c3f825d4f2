"""labelaug_core.cache: the one cache rule (keys hold settings and the meaning of the code)."""
import json
import textwrap

import pandas as pd
import pytest

from labelaug_core import cache
from labelaug_core.cache import Artifact, cached_table, module_closure


def _digest(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    st = path.stat()
    return cache._parsed(path, (st.st_mtime_ns, st.st_size))[0]


def test_code_digest_ignores_comments_docstrings_and_formatting_but_not_meaning(tmp_path):
    plain = _digest(tmp_path, "a.py", "def f(x):\n    return 2 * x\n")
    dressed = _digest(tmp_path, "b.py", '''
        """Module docstring."""
        # a comment
        def f( x ):
            """Twice x."""
            return 2*x   # doubled
        ''')
    changed = _digest(tmp_path, "c.py", "def f(x):\n    return 3 * x\n")
    assert plain == dressed != changed


def test_closures_follow_imports_so_apgd_touches_strong_evaluations_and_not_runs():
    run = module_closure("labelaug_core.runs.training")
    strong = module_closure("labelaug_core.evaluation.strong", "labelaug_core.runs.protocol")
    assert "labelaug_core.attacks.apgd" not in run and "labelaug_core.attacks.pgd" in run
    assert "labelaug_core.attacks.apgd" in strong and "labelaug_core.train" not in strong
    assert not any(m.endswith("__init__") for m in run)


def test_a_cached_table_is_computed_once_per_key_and_recomputed_when_its_code_changes(tmp_path, monkeypatch):
    calls = []

    def compute():
        calls.append(1)
        return pd.DataFrame({"a": [len(calls)]})

    art = Artifact(tmp_path, "table", {"n": 1}, ("labelaug_core.evaluation.metrics",))
    first = cached_table(art, compute)
    again = cached_table(Artifact(tmp_path, "table", {"n": 1}, ("labelaug_core.evaluation.metrics",)), compute)
    assert len(calls) == 1 and again.equals(first)
    sidecar = json.loads(art.sidecar.read_text())
    assert sidecar["settings"] == {"n": 1} and "labelaug_core.attacks.pgd" in sidecar["code"]

    other = Artifact(tmp_path, "table", {"n": 2}, ("labelaug_core.evaluation.metrics",))
    assert other.key != art.key
    real = cache.code_digests
    monkeypatch.setattr(cache, "code_digests", lambda *m: real(*m) | {"labelaug_core.attacks.pgd": "edited"})
    edited = Artifact(tmp_path, "table", {"n": 1}, ("labelaug_core.evaluation.metrics",))
    assert edited.key != art.key and not edited.exists()
    assert cached_table(edited, compute)["a"].item() == 2 and art.exists()  # the old one stays, nothing deleted


def test_stale_sidecars_name_the_changed_modules(tmp_path):
    art = Artifact(tmp_path, "t", {}, ("labelaug_core.errors",))
    art.mark_done()
    assert cache.stale_sidecars(tmp_path) == []
    recorded = json.loads(art.sidecar.read_text())
    recorded["code"]["labelaug_core.errors"] = "000000000000"
    art.sidecar.write_text(json.dumps(recorded))
    assert cache.stale_sidecars(tmp_path) == [(art.sidecar, ["labelaug_core.errors"])]


def test_atomic_writes_leave_no_temporary(tmp_path):
    cache.write_json_atomic(tmp_path / "x" / "a.json", {"b": 1})
    assert json.loads((tmp_path / "x" / "a.json").read_text()) == {"b": 1}
    assert [p.name for p in (tmp_path / "x").iterdir()] == ["a.json"]


def test_module_outside_the_package_is_refused():
    with pytest.raises(ValueError, match="inside labelaug_core"):
        cache.module_path("numpy.linalg")
