"""The strong evaluation and the verdict: the ladder's masks nest as they must, a cached
evaluation is read back without running the model, the per-class ladder and gain shares are
right on hand-made masks, and the verdict says which way hand-made numbers go."""
import numpy as np
import pytest
import torch
from torch import nn

from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.strong import LADDER, StrongEval, strong_eval, worst_of
from labelaug_core.report.verdict import claim_verdict, gain_vulnerability, ladder_table, member_table, verdict_sentence, verdict_table


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
def test_strong_eval_masks_nest_and_the_cache_is_reused(linear_model, fmnist_test, tmp_path, logits):
    x, y = fmnist_test[0][:100], fmnist_test[1][:100]
    model = Counting(linear_model)
    cache = tmp_path / "evals" / "strong.json"
    first = strong_eval(model, x, y, 0.05, logits=logits, cache=cache, batch_size=60, settings={"run_id": "r"}, **FAST)
    assert model.calls > 0 and cache.exists() and cache.with_suffix(".npz").exists()
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

    calls = model.calls
    again = strong_eval(model, x, y, 0.05, logits=logits, cache=cache, batch_size=60, **FAST)
    assert model.calls == calls  # read back, not recomputed
    assert again.errors() == first.errors() and np.array_equal(again.ensemble_pred, first.ensemble_pred)
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


@pytest.mark.parametrize("ens_adv,ens_plus,outcome", [
    (60.0, 30.0, "survives"),      # 30 of the 35 pp PGD-40 gain left
    (60.0, 50.0, "shrinks"),       # 10 pp left, well above noise at n = 1000
    (60.0, 58.0, "within noise"),  # 2 pp at n = 1000: SE ~ 2.2 pp
    (60.0, 62.0, "vanishes"),
])
def test_claim_verdict_outcomes(ens_adv, ens_plus, outcome):
    v = claim_verdict(70.0, 35.0, ens_adv, ens_plus, n=1000)
    assert v["outcome"] == outcome
    assert v["gain_pgd40"] == 35.0 and v["gain_ensemble"] == pytest.approx(ens_adv - ens_plus)
    assert v["retained"] == pytest.approx((ens_adv - ens_plus) / 35.0)
    sentence = verdict_sentence(v)
    assert ("does not survive" in sentence) == (outcome in ("vanishes", "within noise"))
    gap = ens_adv - ens_plus
    assert f"{abs(gap):.2f} pp {'below' if gap >= 0 else 'above'} Adv's" in sentence
    assert "35.00 pp below Adv's" in sentence


def test_claim_verdict_reproduces_the_papers_relative_drop():
    v = claim_verdict(70.32, 32.70, 70.32, 70.32, n=50000)
    assert v["relative_pgd40"] == pytest.approx(53.50, abs=0.005)
    assert v["outcome"] == "vanishes"
    assert claim_verdict(30.0, 40.0, 60.0, 30.0, n=100)["outcome"] == "no PGD-40 gain"
    assert claim_verdict(50.0, 40.0, 50.0, 40.0, n=100)["se_ensemble"] == pytest.approx(7.0)  # sqrt(25 + 24)
