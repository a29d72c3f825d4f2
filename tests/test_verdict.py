"""The strong evaluation and the verdict: the ladder's masks nest as they must, a cached
evaluation is read back without running the model, the per-class ladder and gain shares are
right on hand-made masks, and the verdict says which way hand-made numbers go."""
import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.ladder import LADDER, StrongEval, worst_of
from labelaug_core.evaluation.strong import strong_eval
from labelaug_core.evaluation.ladder import gain_vulnerability, ladder_table
from labelaug_core.report.trustworthy import claim_verdict, member_table, verdict_sentence, verdict_table

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def linear_model(data_root):
    """A linear classifier (K = 10, M = 1) after 200 Adam steps on 5000 real training images: attacking
    it costs microseconds, and at eps 0.05 some but not all test images can be fooled."""
    from labelaug_core.data.readers import load_arrays

    images, labels = load_arrays("fashion-mnist", "train", data_root)
    x, y = images[:5000].float() / 255, labels[:5000]
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 11))
    net.num_classes, net.num_ops = 10, 1
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    for step in range(200):
        i = torch.arange(step * 25, step * 25 + 25) % 5000
        loss = nn.functional.cross_entropy(net(x[i])[:, :10], y[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


class Counting(nn.Module):
    """A model that counts its forward passes."""

    def __init__(self, model):
        super().__init__()
        self.model, self.calls = model, 0
        self.num_classes, self.num_ops = model.num_classes, model.num_ops

    def forward(self, x):
        self.calls += 1
        return self.model(x)


def hand_made(y, **wrong) -> StrongEval:
    masks = {r: np.asarray(wrong[r], dtype=bool) for r in LADDER}
    return StrongEval({}, np.asarray(y), masks, np.where(masks["ensemble"], -1, y), 0.0)


FAST = dict(apgd_steps=3, pgd_restarts=2, n_target_classes=2)


@pytest.mark.parametrize("logits", ["classes", "all"])
def test_strong_eval_masks_nest_and_a_saved_result_reads_back(linear_model, fmnist_test, tmp_path, logits):
    x, y = fmnist_test[0][:100], fmnist_test[1][:100]
    model = Counting(linear_model)
    first = strong_eval(model, x, y, 0.05, logits=logits, batch_size=60, settings={"run_id": "r"}, **FAST)
    assert model.calls > 0
    w = first.wrong
    assert list(w)[: len(LADDER)] == list(LADDER)
    for weaker, stronger in (("clean", "fgsm"), ("clean", "pgd-40"), ("pgd-40", "ensemble")):
        assert not (w[weaker] & ~w[stronger]).any()
    members = np.stack([w[f"member:{m}"] for m in ("pgd-40", "pgd-40-restarts", "apgd-ce", "apgd-t")])
    assert (members.sum(0) <= 1).all()  # a cascade: each example is fooled first by one member at most
    assert np.array_equal(members.any(0) | w["clean"], w["ensemble"])
    assert np.array_equal(first.ensemble_pred != first.y, w["ensemble"])
    assert first.settings["run_id"] == "r" and first.settings["n"] == 100
    errors = first.errors()
    assert 0 < errors["clean"] < errors["fgsm"] <= errors["ensemble"] < 100  # the test can tell rungs apart

    first.save(tmp_path / "evals" / "strong.npz")
    again = StrongEval.load(tmp_path / "evals" / "strong.npz")
    assert again.errors() == first.errors() and np.array_equal(again.ensemble_pred, first.ensemble_pred)
    assert again.settings == first.settings and not list((tmp_path / "evals").glob("*.tmp"))
    with pytest.raises(ConfigError, match="logits must be one of"):
        strong_eval(model, x, y, 0.05, logits="ops", **FAST)


def test_ladder_table_and_gains_by_hand():
    # 4 classes, 4 examples each; classes 0 and 1 vulnerable (high FGSM error), 2 and 3 robust.
    y = np.repeat(np.arange(4), 4)
    none, some = [0, 0, 0, 0], [1, 0, 0, 0]
    ev = hand_made(
        y,
        clean=none * 4,
        fgsm=[1, 1, 0, 0] + [1, 1, 0, 0] + some + none,
        **{"pgd-10": [1, 1, 1, 0] + [1, 1, 0, 0] + some + none,
           "pgd-40": [1, 1, 1, 0] + [1, 1, 1, 0] + some + none},
        ensemble=[1, 1, 1, 1] + [1, 1, 1, 0] + some + some,
    )
    ladder = ladder_table([ev, ev], ["a", "b", "c", "d"])
    assert ladder["fgsm_err"].tolist() == [50.0, 50.0, 25.0, 0.0]
    assert ladder["pgd-10_gain"].tolist() == [25.0, 0.0, 0.0, 0.0]
    assert ladder["ensemble_gain"].tolist() == [25.0, 0.0, 0.0, 25.0]
    gains = gain_vulnerability(ladder).set_index("rung")
    # PGD-10 and PGD-40 gain only on the vulnerable half (a, b); the ensemble half on each.
    assert gains.loc["pgd-10", "weak_half_share_%"] == 100.0 and gains.loc["pgd-40", "weak_half_share_%"] == 100.0
    assert gains.loc["ensemble", "weak_half_share_%"] == 50.0
    assert gains.loc["fgsm -> ensemble", "weak_half_share_%"] == pytest.approx(75.0)
    assert gains.loc["pgd-10", "pearson_r"] > 0
    assert gains.loc["fgsm -> ensemble", "mean_gain_pp"] == pytest.approx(ladder["ensemble_err"].mean() - 31.25)


def test_worst_of_and_tables_by_hand():
    y = np.array([0, 1, 2, 3])
    a = hand_made(y, clean=[1, 0, 0, 0], fgsm=[1, 0, 0, 0], **{"pgd-10": [1, 1, 0, 0], "pgd-40": [1, 1, 0, 0]},
                  ensemble=[1, 1, 0, 0])
    b = hand_made(y, clean=[1, 0, 0, 0], fgsm=[1, 0, 1, 0], **{"pgd-10": [1, 0, 1, 0], "pgd-40": [1, 0, 1, 0]},
                  ensemble=[1, 0, 1, 0])
    both = worst_of(a, b)
    assert both.errors()["ensemble"] == 75.0 and both.errors()["clean"] == 25.0
    table = verdict_table({"A": [a], "both": [both]})
    assert table.loc["both", "pgd-40_err"] == 75.0 and table.loc["A", "n"] == 4
    with pytest.raises(ConfigError, match="same examples"):
        worst_of(a, hand_made(y[::-1], **{r: [0, 0, 0, 0] for r in LADDER}))
    a.wrong["member:pgd-40"] = np.array([0, 1, 0, 0], dtype=bool)
    assert member_table({"A": [a]}).loc["A", "pgd-40"] == 25.0


def _mask(n: int, err_pct: float, shift: int = 0) -> np.ndarray:
    """(n,) errors on images [shift, shift + err_pct% of n): masks with shifts differ in both directions."""
    i = np.arange(n)
    return (i >= shift) & (i < shift + round(n * err_pct / 100))


def _model(pgd40: np.ndarray, ensemble: np.ndarray) -> StrongEval:
    zero = np.zeros_like(pgd40)
    return hand_made(np.zeros(len(pgd40), dtype=np.int64), clean=zero, fgsm=pgd40, **{"pgd-10": pgd40},
                     **{"pgd-40": pgd40, "ensemble": ensemble})


def _seeds(pgd: list[tuple[float, float]], ens: list[tuple[float, float]], shift: int = 0, n: int = 1000):
    """Adv and Adv+ evaluations per seed with the given (Adv, Adv+) PGD-40 and ensemble errors (%)."""
    adv = [_model(_mask(n, p[0]), _mask(n, e[0])) for p, e in zip(pgd, ens)]
    plus = [_model(_mask(n, p[1]), _mask(n, e[1], shift)) for p, e in zip(pgd, ens)]
    return adv, plus


PGD_GAIN = [(70.0, 35.0), (70.0, 36.0), (71.0, 35.0)]  # ~35 pp on every seed


@pytest.mark.parametrize("ens,outcome", [
    ([(80.0, 50.0), (80.0, 51.0), (80.0, 49.0)], "survives"),       # ~30 of ~35 pp left on every seed
    ([(80.0, 70.0), (80.0, 71.0), (80.0, 69.0)], "shrinks"),        # ~10 pp: significant, under half left
    ([(80.0, 76.0), (80.0, 82.0), (80.0, 79.0)], "within noise"),   # +4, -2, +1 pp: the seeds disagree
    ([(80.0, 82.0), (80.0, 81.0), (80.0, 83.0)], "vanishes"),
])
def test_claim_verdict_outcomes_over_seeds(ens, outcome):
    v = claim_verdict(*_seeds(PGD_GAIN, ens))
    assert v["outcome"] == outcome and v["seeds"] == 3 and v["n"] == 1000
    assert v["gain_pgd40"] == pytest.approx(np.mean([a - b for a, b in PGD_GAIN]))
    gains = [a - b for a, b in ens]
    assert v["ensemble"]["across_seeds"]["diffs"] == pytest.approx(gains)
    assert v["gain_ensemble"] == pytest.approx(np.mean(gains))
    assert v["retained"] == pytest.approx(np.mean(gains) / v["gain_pgd40"])
    sentence = verdict_sentence(v)
    assert ("does not survive" in sentence) == (outcome in ("vanishes", "within noise"))
    assert "95% CI of the mean" in sentence and "McNemar p per seed" in sentence and "dominates" in sentence


def test_claim_verdict_with_one_seed_uses_mcnemar():
    # 2 pp at n = 1000, but 52 images go one way and 32 the other: McNemar p = 0.04 -> significant...
    adv, plus = _seeds([(70.0, 35.0)], [(60.0, 58.0)], shift=52)
    v = claim_verdict(adv, plus)
    assert v["ensemble"]["per_seed"][0]["b"] == 52 and v["ensemble"]["per_seed"][0]["c"] == 32
    assert v["ensemble"]["per_seed"][0]["p_value"] == pytest.approx(stats.binomtest(52, 84).pvalue)
    assert v["outcome"] == "shrinks"
    assert "one seed" in verdict_sentence(v) and "training noise is not measured" in verdict_sentence(v)
    # ...while 2 pp from 120 against 100 discordant images is not (p = 0.2).
    adv, plus = _seeds([(70.0, 35.0)], [(60.0, 58.0)], shift=120)
    assert claim_verdict(adv, plus)["outcome"] == "within noise"


def test_claim_verdict_reproduces_the_papers_relative_drop():
    v = claim_verdict(*_seeds([(70.32, 32.70)] * 2, [(70.32, 70.32)] * 2, n=50000))
    assert v["relative_pgd40"] == pytest.approx(53.50, abs=0.005)
    assert v["outcome"] == "vanishes"
    assert claim_verdict(*_seeds([(30.0, 40.0)], [(60.0, 30.0)]))["outcome"] == "no PGD-40 gain"
    with pytest.raises(ConfigError, match="one evaluation per seed"):
        claim_verdict(*_seeds(PGD_GAIN, PGD_GAIN)[:1], [])


# --- the chapters' claims, worded by labelaug_core.report.verdict from hand-made numbers ------------

from pathlib import Path

import pandas as pd

from labelaug_core.config import TrainConfig
from labelaug_core.report.classwise_robustness import (
    class_spread_sentence,
    climb_sentences,
    gain_table,
    ladder_tables,
    tian_comparison,
    top_flow_sentence,
    weight_norm_sentence,
)
from labelaug_core.report.corruptions import corruption_source_note
from labelaug_core.report.defences import bias_sentence, defence_changes, weakest_class_note
from labelaug_core.report.delta import delta_control_lines
from labelaug_core.report.imagenet import factor_counts_text
from labelaug_core.report.temperature import temperature_sentences
from labelaug_core.report.trustworthy import (
    failed_checks,
    masking_report,
    verdict_evaluations,
    verdict_paragraph,
)
from labelaug_core.report.verdict.reproduction import runs_used_sentence
from labelaug_core.report.paper import PAPER_TABLE1, paper_relative_drop
from labelaug_core.runs.store import Run
from labelaug_core.runs.strong import masking_check_tables


def test_verdict_sentence_quotes_the_papers_drop_from_table1(monkeypatch):
    v = claim_verdict(*_seeds(PGD_GAIN, [(60.0, 30.0)] * 3))
    assert f"the paper: {paper_relative_drop():.1f}%" in verdict_sentence(v) and "53.5%" in verdict_sentence(v)
    changed = PAPER_TABLE1.copy()
    changed.loc["advplus", "pgd_err"] = 35.16  # half of Adv's 70.32: the sentence follows the table
    monkeypatch.setattr("labelaug_core.report.paper.PAPER_TABLE1", changed)
    assert "the paper: 50.0%" in verdict_sentence(v)


def _runs(method: str, masks: list[np.ndarray], delta: float = 0.03) -> list[Run]:
    """Runs (one per seed) whose predictions.npz are stored in memory: PGD errors = ``masks``."""
    runs = []
    for seed, mask in enumerate(masks):
        config = TrainConfig(method=method, seed=seed, delta=delta if method == "advplus" else 0.0)
        err = 100.0 * float(mask.mean())
        run = Run(Path(f"runs/{method}-{delta}-{seed}"), config, {"pgd_err": err}, pd.DataFrame(), pd.DataFrame(), {})
        object.__setattr__(run, "error_mask", lambda kind="pgd", m=mask: m)
        runs.append(run)
    return runs


@pytest.mark.parametrize("adv,plus,shift,words", [
    (60.0, [40.0, 41.0, 39.0], 0, "**Adv+ is better here**"),
    (40.0, [60.0, 59.0, 61.0], 0, "**Adv+ is worse here**"),
    (50.0, [49.0, 51.5, 46.5], 100, "**The difference is within noise.**"),  # per seed +1, -1.5, +3.5 pp
])
def test_profile_gain_paragraph_is_paired_and_over_seeds(adv, plus, shift, words):
    from labelaug_core.report.average_error import profile_gain_paragraph

    runs = {"adv": _runs("adv", [_mask(1000, adv)] * 3), "advplus": _runs("advplus", [_mask(1000, p, shift) for p in plus])}
    text = profile_gain_paragraph(runs)
    assert words in text
    mean = float(np.mean(plus))
    assert f"**{100 * (adv - mean) / adv:.2f} %**" in text and f"{abs(adv - mean):.2f} pp" in text
    assert f"the paper reports {paper_relative_drop():.2f} %" in text and "mean of 3 seeds" in text
    one = profile_gain_paragraph({"adv": runs["adv"][:1], "advplus": runs["advplus"][:1]})
    assert "one seed" in one and "McNemar exact p" in one and "on 1000 images" in one


def test_delta_control_lines_compare_adv_then_each_delta_with_the_control():
    adv = _runs("adv", [_mask(1000, 60.0)])
    sweep = {0.0: _runs("advplus", [_mask(1000, 50.0)], 0.0), 0.03: _runs("advplus", [_mask(1000, 49.5, 30)], 0.03),
             0.3: _runs("advplus", [_mask(1000, 30.0)], 0.3)}
    lines = delta_control_lines(sweep, adv).split("\n")
    assert len(lines) == 3
    assert lines[0].startswith("- Adv+ δ = 0 vs Adv: δ = 0's PGD-40 error is 10.00 pp below Adv's (50.00% against 60.00%")
    assert "**δ = 0 is better here**" in lines[0]
    assert lines[1].startswith("- Adv+ δ = 0.03 vs δ = 0") and "within noise" in lines[1]
    assert lines[2].startswith("- Adv+ δ = 0.3 vs δ = 0: δ = 0.3's PGD-40 error is 20.00 pp below")
    assert "no δ = 0 run" in delta_control_lines({0.3: sweep[0.3]}, adv)
    higher = delta_control_lines({0.0: _runs("advplus", [_mask(1000, 80.0)], 0.0)}, adv)
    assert "**δ = 0 is worse here**" in higher


def test_corruption_source_note_says_whether_it_is_the_papers_benchmark():
    small = corruption_source_note("generated, CIFAR-10-C constants, 28 px", "fashion-mnist", 200)
    assert "**This is not the paper's benchmark**" in small and "CIFAR-10-C" in small and "28 px" in small
    assert "so CIFAR-10-C's are used" in small
    recipe = corruption_source_note("generated, ImageNet-C constants, 224 px", "imagenet", 500)
    assert "the ImageNet-C recipe" in recipe and "not the paper's benchmark" not in recipe
    files = corruption_source_note("ImageNet-C files in /data/imagenet-c, 224 px", "imagenet", 500)
    assert "the paper's benchmark, on a subset" in files and files.startswith("**Corrupted images:** ")
    with pytest.raises(ValueError, match="empty source"):
        corruption_source_note("", "fashion-mnist", 200)


def run_with_env(method, seed, env):
    return Run(Path(f"runs/{method}-{seed}"), TrainConfig(method=method, seed=seed), {}, pd.DataFrame(), pd.DataFrame(), env)


def test_runs_used_sentence_lists_runs_and_each_commit_once():
    runs = [run_with_env("std", 0, {"git_commit": "abc", "torch": "2.1"}),
            run_with_env("adv", 0, {"git_commit": "abc", "torch": "2.1"})]
    text = runs_used_sentence(runs)
    assert text == "Runs used: `std-0`, `adv-0`. Code commit `abc`, torch 2.1."
    runs.append(run_with_env("advplus", 0, {"git_commit": "def", "torch": "2.1"}))
    assert "Code commits `abc`, `def`, torch 2.1." in runs_used_sentence(runs)


def test_factor_counts_text():
    assert factor_counts_text(pd.Series({"pose": 12, "background": 3})) == "pose 12, background 3"


def test_class_spread_and_top_flow_sentences():
    acc = pd.concat({"Adv": pd.DataFrame({"clean": [90.0, 80.0], "PGD-40": [70.0, 20.5]}, index=["tee", "coat"])}, axis=1)
    assert class_spread_sentence(acc) == ("Spread between the most and the least robust class under PGD-40: "
                                            "Adv **49.5 pp** (best tee 70.0%, worst coat 20.5%).")
    flows = {"adv": pd.DataFrame([{"true": "shirt", "sent to": "tee", "count": 9, "share_%": 45.2}]),
             "advplus": pd.DataFrame()}
    assert top_flow_sentence(flows) == ("The most frequent flow of each model: Adv: **shirt → tee** (45% of the "
                                          "shirt images attacked); Adv+: no adversarial errors.")


@pytest.mark.parametrize("r,words", [(0.5, "positive, as Tian et al. report"), (0.3, "positive, as Tian et al. report"),
                                     (0.1, "weak (|r| < 0.3)"), (-0.29, "weak (|r| < 0.3)"),
                                     (-0.3, "negative, the opposite of Tian et al."), (float("nan"), "undefined")])
def test_tian_comparison_thresholds(r, words):
    assert tian_comparison(r) == words


def test_weight_norm_sentence_means_over_seeds():
    corr = pd.DataFrame({"model": ["Adv", "Adv", "Adv+"], "seed": [0, 1, 0], "pearson_r": [0.6, 0.2, -0.5]})
    text = weight_norm_sentence(corr.set_index(["model", "seed"]))
    assert "Adv **0.40** (positive, as Tian et al. report)" in text
    assert "Adv+ **-0.50** (negative, the opposite of Tian et al.)" in text
    undefined = weight_norm_sentence(corr.assign(pearson_r=[np.nan] * 3).set_index(["model", "seed"]))
    assert "Adv – (undefined: every class has the same robust accuracy" in undefined and "nan" not in undefined


def test_dashes_show_undefined_values_as_a_dash():
    from labelaug_core.report.classwise_robustness import dashes

    table = pd.DataFrame({"r": [0.123, np.nan], "name": ["a", "b"]})
    assert dashes(table).to_dict("list") == {"r": ["0.12", "–"], "name": ["a", "b"]}


def test_ladder_gain_tables_and_climb_sentences():
    y = np.repeat(np.arange(4), 4)
    none = [0, 0, 0, 0]
    vulnerable = hand_made(y, clean=none * 4, fgsm=[1, 1, 0, 0] * 2 + none * 2,
                           **{"pgd-10": [1, 1, 1, 0] * 2 + none * 2, "pgd-40": [1, 1, 1, 0] * 2 + none * 2},
                           ensemble=[1, 1, 1, 1] * 2 + none * 2)
    flat = hand_made(y, **{r: none * 4 for r in LADDER})
    ladders = ladder_tables({"adv": [vulnerable], "advplus": [flat]}, ["a", "b", "c", "d"])
    assert ladders["adv"]["ensemble_err"].tolist() == [100.0, 100.0, 0.0, 0.0]
    gains = gain_table(ladders)
    assert gains.index.names == ["model", "rung"] and gains.loc[("Adv", "fgsm -> ensemble"), "weak_half_share_%"] == 100.0
    lines = climb_sentences(gains).split("\n")
    assert lines[0].startswith("- **Adv**: from FGSM to the ensemble the class error rises by 25.0 pp on average")
    assert lines[0].endswith("mainly on the more vulnerable classes.")
    assert lines[1] == "- **Adv+**: the ensemble adds nothing over FGSM (mean gain 0.0 pp)."


def test_temperature_sentences_say_whether_a_temperature_beats_plain_pgd():
    def sweep(success, class0, class1):
        return pd.DataFrame({"temperature": [0.1, 1.0, 10.0], "success_%": success,
                             "class_0_success_%": class0, "class_1_success_%": class1})

    text = temperature_sentences({"adv": sweep([50.0, 40.0, 30.0], [60.0, 40.0, 0.0], [40.0, 40.0, 60.0]),
                                    "advplus": sweep([10.0, 20.0, 15.0], [0.0] * 3, [0.0] * 3)}, n_images=50)
    lines = text.split("\n")
    assert lines[0] == ("- **Adv**: T = 0.1 reaches 50.0% success against 40.0% for plain PGD (+10.0 pp); it raises "
                        "the success rate of 1 of the 2 classes and lowers it for 0.")
    assert lines[1].startswith("- **Adv+**: no temperature beats plain PGD (20.0% success at T = 1; the best other, T = 10")
    assert text.endswith("one image moves a success rate by at least 2.0 pp.")


def test_verdict_evaluations_and_the_worst_of_both():
    y = np.array([0, 1, 2, 3])
    first_k = hand_made(y, **{r: [0, 1, 0, 0] for r in LADDER})
    all_logits = hand_made(y, **{r: [0, 0, 1, 0] for r in LADDER})
    other = hand_made(y, **{r: [1, 1, 1, 1] for r in LADDER})
    strong = {"std": [other], "adv": [other], "advplus": [first_k]}
    evals = verdict_evaluations(strong, [all_logits])
    assert list(evals) == ["Std", "Adv", "Adv+", "Adv+ (all K+M logits)", "Adv+ (worst of both)"]
    assert evals["Adv+ (worst of both)"][0].errors()["ensemble"] == 50.0
    assert "Adv+ (worst of both)" not in verdict_evaluations(strong, [all_logits], worst_of_both=False)
    with pytest.raises(ValueError):  # one all-logits evaluation per Adv+ seed
        verdict_evaluations({**strong, "advplus": [first_k, first_k]}, [all_logits])


def test_masking_checks_report_and_verdict_paragraph():
    y = np.array([0, 1])
    evals = {m: [hand_made(y, **{r: [0, 1] for r in LADDER})] for m in ("std", "adv", "advplus")}
    runs = {m: [run_with_env(m, 0, {})] for m in ("std", "adv", "advplus")}
    calls = []

    def check(run, *, n, logits, white_box_wrong, transfer_run, **kw):
        calls.append((run.config.method, logits, transfer_run.config.method, white_box_wrong.tolist()))
        passed = [True, not (run.config.method == "advplus" and logits == "all")]
        return pd.DataFrame({"name": ["grad", "transfer"], "passed": passed, "message": ["ok", "?"]})

    checks = masking_check_tables(runs, evals, evals["advplus"], n=0, apgd_steps=3, step_counts=[5],
                                    square_queries=0, check=check)
    assert list(checks) == ["Std", "Adv", "Adv+", "Adv+ (all K+M logits)"]
    assert calls[0] == ("std", "classes", "adv", [False, True]) and calls[3][:3] == ("advplus", "all", "std")
    failed = failed_checks(checks)
    assert failed == {"Std": [], "Adv": [], "Adv+": [], "Adv+ (all K+M logits)": ["transfer"]}
    items = masking_report(checks)
    assert len(items) == 8 and items[0].data == "**Std**: every check passes."
    assert items[6].data == "**Adv+ (all K+M logits)**: **1 check(s) fail: transfer**."
    assert list(items[7].columns) == ["name", "passed", "message"]

    table = pd.DataFrame({"ensemble_err": [90.0, 60.0, 58.0]}, index=["Std", "Adv", "Adv+"])
    v = claim_verdict(*_seeds(PGD_GAIN, [(60.0, 58.0)] * 3))
    text = verdict_paragraph(v, v, table, failed)
    assert text.startswith(verdict_sentence(v))
    assert "Adv against Std under the ensemble: -30.00 pp of error." in text
    assert "Gradient-masking checks failed for: Adv+ (all K+M logits); read those numbers with care." in text
    assert verdict_paragraph(v, v, table, {"Std": []}).endswith(" Every gradient-masking check passed.")


def test_weakest_class_note_bias_sentence_and_defence_changes():
    names = ["tee", "trouser", "shirt"]
    heldout = pd.DataFrame({"n": [10, 10, 10], "split": ["train"] * 3})
    same = weakest_class_note(heldout, [2], [2], names, "2")
    assert same.startswith("Held-out split: 30 train images that the runs do not train on.")
    assert "**shirt**" in same and "This is the class the plan's class-weighted runs up-weight" in same
    assert '(weak_classes = "2": shirt)' in same and "(2)" not in same
    other = weakest_class_note(heldout.assign(split="test"), [2], [0], names, "0")
    assert "outside the runs' test subset" in other and "up-weight tee instead" in other
    assert "names no weak class" in weakest_class_note(heldout, [2], [], names, "")

    assert bias_sentence({("adv", 0): 1.5, ("advplus", 1): 0.0}) == (
        "Chosen bias per model and seed: Adv seed 0: **1.5**, Adv+ seed 1: **0**. For Adv+ the held-out images "
        "choose bias 0: no change, so the logit bias is not a different defence there and the table below leaves "
        "its row out.")
    assert bias_sentence({("adv", 0): 0.0, ("adv", 1): 0.5}).endswith("Adv seed 1: **0.5**.")  # not 0 on every seed

    columns = ["robust_worst_acc", "robust_avg_acc", "robust_sd", "clean_avg_acc"]
    table = pd.DataFrame([[20.0, 40.0, 10.0, 80.0], [25.0, 45.0, 9.0, 82.0], [30.0, 41.0, 8.0, 79.0],
                          [26.0, 46.0, 8.5, 81.0], [20.1, 46.7, float("nan"), 82.3]], columns=columns,
                         index=["Adv", "Adv+", "Adv, logit bias", "Adv+, logit bias", "AT (peers)"])
    text = defence_changes(table, names, 2, [0])
    assert "Defended class: **shirt** (logit bias), tee (loss weight)." in text
    assert ("- **Adv, logit bias** vs Adv: worst-class robust accuracy +10.0 pp (30.0%), class-mean robust accuracy "
            "+1.0 pp, robust SD -2.0 pp, class-mean clean accuracy -1.0 pp.") in text
    assert "- **Adv+, logit bias** vs Adv+: worst-class robust accuracy +1.0 pp" in text
    assert "peers" not in text.split("\n\n", 2)[2]


def test_claim_verdict_tests_the_pgd40_gain_itself_before_asking_whether_it_survives():
    """A small PGD-40 difference that is within noise is no gain: the verdict does not say a gain
    "does not survive" (which would imply one existed)."""
    small = [(70.0, 69.7), (70.0, 70.2), (70.0, 69.6)]  # +0.3, -0.2, +0.4 pp
    v = claim_verdict(*_seeds(small, [(80.0, 79.0)] * 3, shift=3))
    assert v["gain_pgd40"] > 0 and v["outcome"] == "no PGD-40 gain"
    sentence = verdict_sentence(v)
    assert "not lower than Adv's beyond noise" in sentence and "does not survive" not in sentence
    assert "(1,000 images per seed)" in sentence


@pytest.mark.parametrize("seeds", [1, 3])
@pytest.mark.parametrize("worse", [True, False])
def test_difference_words_states_intervals_with_the_sentences_sign(seeds, worse):
    """The sentence says after is x pp above (or below) before; every difference and interval it
    prints is after - before, so an "above" comes with positive numbers (chapter 5 once printed
    "1.20 pp above ... CI [-2.23, -0.17]")."""
    import re

    from labelaug_core.evaluation.paired import compare_methods
    from labelaug_core.report.comparisons import difference_words

    rng = np.random.default_rng(0)
    befores, afters = [], []
    for seed in range(seeds):
        before = rng.random(1000) < 0.30
        after = before.copy()
        flip = rng.choice(np.flatnonzero(~before if worse else before), 50 + 10 * seed, replace=False)
        after[flip] = ~after[flip]
        befores.append(before)
        afters.append(after)
    text = difference_words(compare_methods(befores, afters), "Adv", "Adv+", "PGD-40 error")
    assert ("pp above Adv's" in text) == worse and ("pp below Adv's" in text) == (not worse)
    low, high = (float(v) for v in re.search(r"CI(?: of the mean)? \[([-+][\d.]+), ([-+][\d.]+)\]", text).groups())
    assert (low > 0) == worse and (high < 0) == (not worse)
    assert (re.search(r"Adv\+ − Adv (per seed )?\+", text) is not None) == worse


def _per_class(robust, clean=None):
    robust = np.asarray(robust, float)
    clean = np.full(len(robust), 90.0) if clean is None else np.asarray(clean, float)
    return pd.DataFrame({"clean_err": 100.0 - clean, "pgd_err": 100.0 - robust})


def test_error_moves_name_the_classes_that_gain_and_lose_and_whether_the_worst_class_moved():
    from labelaug_core.report.defences import class_moves, defence_summary, defence_table, error_moves

    names = ["Tee", "Pullover", "Coat", "Shirt"]
    rows = {"Adv": [_per_class([60, 40, 35, 0])], "Adv+": [_per_class([60, 40, 35, 10])],
            # moved: Shirt gains, Pullover and Coat collapse; the worst accuracy stays 0
            "Adv, loss weight 3": [_per_class([60, 0, 0, 78], [90, 80, 85, 95])],
            # improved without moving: Shirt stays the worst, higher
            "Adv+, loss weight 3": [_per_class([60, 40, 35, 25])],
            # nothing changed
            "Adv+, logit bias": [_per_class([60, 40, 35, 10])]}
    moves = class_moves(rows, names)
    assert moves["Adv, loss weight 3"]["worst_before"] == ["Shirt"]
    assert moves["Adv, loss weight 3"]["worst_after"] == ["Pullover", "Coat"]
    lines = error_moves(moves).split("\n")
    assert lines[0] == (
        "- **Adv, loss weight 3** vs Adv: robust accuracy Shirt +78.0 pp, but Pullover -40.0 pp and Coat -35.0 pp; "
        "the worst class moved from Shirt (0.0%) to Pullover and Coat (tied at 0.0%), so worst-class robust "
        "accuracy did not change while Shirt itself gained +78.0 pp. Clean accuracy: Shirt +5.0 pp; "
        "Pullover -10.0 pp and Coat -5.0 pp.")
    assert lines[1] == (
        "- **Adv+, loss weight 3** vs Adv+: robust accuracy Shirt +15.0 pp; no class loses robust accuracy; the "
        "worst class stays Shirt (25.0%); worst-class robust accuracy rose by +15.0 pp. Clean accuracy: no class "
        "changes.")
    assert lines[2] == ("- **Adv+, logit bias** vs Adv+: no class's robust or clean accuracy changes; the worst "
                        "class stays Shirt (10.0%).")
    # the moved case partly: the new worst class is higher than the old one, but the old one gained more
    partly = class_moves({"Adv": rows["Adv"], "Adv, w": [_per_class([60, 5, 35, 50])]}, names)
    assert ("the worst class moved from Shirt (0.0%) to Pullover (5.0%), so worst-class robust accuracy rose by "
            "+5.0 pp while Shirt itself gained +50.0 pp") in error_moves(partly)
    # a logit-bias model with bias 0 on every seed is said to be unchanged, not a defence
    zero = error_moves(class_moves({"Adv": rows["Adv"], "Adv, logit bias": rows["Adv"]}, names), {("adv", 0): 0.0})
    assert zero == ("- **Adv, logit bias**: bias 0 chosen on the held-out images: no change, the model is Adv "
                    "itself (not shown as a defence in the table).")

    table = defence_table(rows, peers=False)
    summary = defence_summary(table, moves)
    assert summary.startswith("The largest gain for the worst class comes from **Adv+, loss weight 3**: +15.0 pp")
    assert summary.endswith(
        " Adv, loss weight 3 changes robust accuracy by Shirt +78.0 pp, but Pullover -40.0 pp and Coat -35.0 pp: "
        "errors moved between classes rather than disappearing (details below the figure).")
    assert "Adv+, loss weight 3 changes robust accuracy" not in summary  # it lowers no class
    only_moved = defence_table({k: rows[k] for k in ("Adv", "Adv+", "Adv, loss weight 3")}, peers=False)
    text = defence_summary(only_moved, moves)
    assert text.startswith("None of the defences raises the worst class's robust accuracy") and "errors moved" in text
    assert "errors moved" not in defence_summary(table, {k: moves[k] for k in ("Adv+, loss weight 3",)})
    counted = error_moves(moves, class_counts=[5, 5, 6, 5])
    assert counted.endswith("\n\nEach class's robust accuracy rests on 5 to 6 attacked test images per seed, so one "
                            "image moves it by 20.0 pp: with fewer than 20 images a class's change is not an effect "
                            "on its own.")
    assert error_moves(moves, class_counts=[100] * 4).endswith("rests on 100 attacked test images per seed, so one "
                                                               "image moves it by 1.0 pp.")


def test_worst_change_words_for_ties():
    from labelaug_core.report.defences import worst_change

    many = ["A", "B", "C", "D", "E"]
    assert worst_change(many, many[1:], 0.0, 0.0) == "A is no longer among the worst, but 4 classes tied at 0.0% remain the worst"
    assert worst_change(["A"], ["A", "B"], 0.0, 0.0) == "B joined the worst class: now A and B (tied at 0.0%)"
    assert worst_change(many, ["A", "B", "C", "D", "F"], 0.0, 0.0) == (
        "the worst classes changed from 5 classes tied at 0.0% to 5 classes tied at 0.0% (E left, F joined)")
    assert worst_change(["A"], ["B"], 0.0, 5.0) == "the worst class moved from A (0.0%) to B (5.0%)"


def test_zero_bias_rows_are_left_out_and_tables_show_names_and_dashes():
    from labelaug_core.report.defences import bias_grid_table, defence_display, defence_table, shown_rows

    rows = {"Adv": [_per_class([50, 10])], "Adv+": [_per_class([50, 20])], "Adv, logit bias": [_per_class([50, 10])],
            "Adv+, logit bias": [_per_class([40, 30])]}
    chosen = {("adv", 0): 0.0, ("adv", 1): 0.0, ("advplus", 0): 0.5, ("advplus", 1): 0.0}
    assert list(shown_rows(rows, chosen)) == ["Adv", "Adv+", "Adv+, logit bias"]
    shown = defence_display(defence_table(shown_rows(rows, chosen)))
    assert shown.loc["AT (peers)", "robust_sd"] == "–" and shown.loc["Adv", "robust_worst_acc"] == "10.0"
    assert "nan" not in shown.to_string().lower()
    grid = pd.DataFrame({"bias": [0.0, 1.0], "worst_class": [1, 0]})
    assert bias_grid_table(grid, ["Tee", "Shirt"])["worst_class"].tolist() == ["Shirt", "Tee"]


def test_temperature_sentences_state_n_for_class_level_claims():
    from labelaug_core.report.temperature import MIN_CLASS_IMAGES

    def sweep(success, *classes):
        return pd.DataFrame({"temperature": [0.1, 1.0, 10.0], "success_%": success,
                             **{f"class_{k}_success_%": c for k, c in enumerate(classes)}})

    sweeps = {"adv": sweep([50.0, 40.0, 30.0], [60.0, 40.0, 0.0], [40.0, 45.0, 60.0], [100.0, 0.0, 0.0],
                           [float("nan")] * 3),
              "advplus": sweep([30.0, 20.0, 15.0], [25.0, 20.0, 0.0], [0.0] * 3, [0.0] * 3, [0.0] * 3)}
    counts = {"adv": np.array([30, 25, 1, 0]), "advplus": np.array([3, 3, 3, 3])}
    text = temperature_sentences(sweeps, 50, counts, ["Tee", "Coat", "Shirt", "Bag"])
    lines = text.split("\n")
    assert MIN_CLASS_IMAGES == 20
    assert lines[0] == (
        "- **Adv**: T = 0.1 reaches 50.0% success against 40.0% for plain PGD (+10.0 pp); of the 2 classes with at "
        "least 20 correctly classified images, it raises the success rate of 1 and lowers it for 1; the largest "
        "change is Tee +20.0 pp on 30 images. 2 classes rest on fewer than 20 images (Shirt +100.0 pp on 1 image, "
        "Bag no image): their changes are not called an effect.")
    assert lines[1] == ("- **Adv+**: T = 0.1 reaches 30.0% success against 20.0% for plain PGD (+10.0 pp); no class "
                        "has 20 or more correctly classified images (at most 3), so no class-level change is called "
                        "an effect.")
    assert "+100.0 pp on Shirt" not in text and "nan" not in text
    assert text.endswith("only when it rests on at least 20 correctly classified images of the class (over seeds).")


def test_temperature_class_counts_count_the_correct_clean_images_per_class_over_seeds():
    from types import SimpleNamespace

    from labelaug_core.runs.strong import temperature_class_counts

    def run(y, clean, n_attacked):
        pred = SimpleNamespace(y=np.array(y), clean=np.array(clean))
        return SimpleNamespace(predictions=lambda: pred, metrics={"n_attacked": n_attacked},
                               per_class=pd.DataFrame({"class": [0, 1, 2]}))

    runs = {"adv": [run([0, 1, 2, 0, 1], [0, 1, 0, 0, 1], 3), run([0, 1, 2, 0, 1], [0, 0, 2, 0, 1], 3)]}
    assert temperature_class_counts(runs)["adv"].tolist() == [2, 1, 1]  # first 3 images of each seed
    assert temperature_class_counts(runs, n=5)["adv"].tolist() == [4, 3, 1]


def test_attacked_class_counts():
    from types import SimpleNamespace

    from labelaug_core.runs.defences import attacked_class_counts

    pred = SimpleNamespace(y=np.array([0, 1, 1, 2, 0]), attacked=np.array([True, True, True, False, False]))
    assert attacked_class_counts([SimpleNamespace(predictions=lambda: pred)], 3) == [1, 2, 0]
