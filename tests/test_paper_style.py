"""Paper-style PGD-40 (cleverhans on normalised inputs, unclipped, argmax label over all K + M outputs):
a hand-computed step, the label rule, the normalised ball without clipping, the cached per-run
evaluation, and the report's paired statistics and wording."""
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from labelaug_core.attacks.paper_style import paper_style_budget, paper_style_pgd, paper_style_wrong
from labelaug_core.config import TrainConfig
from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.ladder import LADDER, StrongEval
from labelaug_core.models import Classifier, Normalize
from labelaug_core.report import paper_style as R
from labelaug_core.runs.paper_style import paper_style_evaluation
from labelaug_core.runs.protocol import run_test_images
from labelaug_core.runs.store import load_model, load_run
from labelaug_core.runs.training import ensure_run

pytestmark = pytest.mark.usefixtures("one_thread")


def linear_classifier(num_ops: int = 1, op_bias: float = 0.0) -> Classifier:
    """K = 3 classes + ``num_ops`` operation outputs, linear in the normalised 1x2x2 input."""
    torch.manual_seed(0)
    backbone = nn.Sequential(nn.Flatten(), nn.Linear(4, 3 + num_ops))
    with torch.no_grad():
        backbone[1].bias[3:] += op_bias
    return Classifier(backbone, Normalize((0.5,), (0.25,)), 3, num_ops).eval()


def test_budget_is_the_papers_at_its_eps_and_scales_with_the_profiles_eps():
    assert paper_style_budget(0.03) == pytest.approx({"eps_normalised": 0.03, "step_normalised": 0.01, "steps": 40})
    assert paper_style_budget(0.1) == pytest.approx({"eps_normalised": 0.1, "step_normalised": 0.1 / 3, "steps": 40})
    with pytest.raises(ConfigError, match="eps must be > 0"):
        paper_style_budget(0.0)


def test_one_step_is_a_sign_step_on_the_cross_entropy_of_all_outputs_in_normalised_units():
    model = linear_classifier()
    x = torch.rand(6, 1, 2, 2, generator=torch.Generator().manual_seed(1))
    z = (x - 0.5) / 0.25
    w, b = model.backbone[1].weight.detach(), model.backbone[1].bias.detach()
    logits = z.flatten(1) @ w.T + b
    label = logits.argmax(1)  # over all K + M = 4 outputs
    grad = (logits.softmax(1) - F.one_hot(label, 4).float()) @ w  # d CE / d z, by hand
    expected = z + (0.05 * grad.sign()).view_as(z)
    z_adv, y_attacked = paper_style_pgd(model, x, eps_normalised=0.2, step_normalised=0.05, steps=1, random_start=False)
    torch.testing.assert_close(z_adv, expected)
    assert torch.equal(y_attacked, label)


def test_the_label_is_the_argmax_over_all_outputs_even_an_operation_output():
    model = linear_classifier(op_bias=100.0)  # the operation output dominates every input
    x = torch.rand(5, 1, 2, 2)
    y = torch.zeros(5, dtype=torch.long)
    out = paper_style_wrong(model, x, y, eps_normalised=0.1, step_normalised=0.05, steps=3)
    assert out["label_is_operation"].all() and out["label_not_true"].all()
    _, y_attacked = paper_style_pgd(model, x, eps_normalised=0.1, step_normalised=0.05, steps=3)
    assert (y_attacked == 3).all()


def test_stays_in_the_normalised_ball_and_is_not_clipped_to_the_image_range(tiny_model, fmnist_test):
    x = fmnist_test[0][:16]
    z = tiny_model.normalize(x)
    z_adv, _ = paper_style_pgd(tiny_model, x, eps_normalised=2.0, step_normalised=0.5, steps=5, seed=3)
    assert (z_adv - z).abs().max() <= 2.0 + 1e-6
    low, high = tiny_model.normalize(torch.zeros(1, 1, 1, 1)).item(), tiny_model.normalize(torch.ones(1, 1, 1, 1)).item()
    assert (z_adv < low).any() and (z_adv > high).any()  # outside every image: no clipping


@pytest.mark.parametrize("start_training", [True, False])
def test_seeded_leaves_global_random_state_and_model_mode_alone(tiny_model, fmnist_test, start_training):
    x = fmnist_test[0][:8]
    tiny_model.train(start_training)
    state = torch.get_rng_state()
    a, _ = paper_style_pgd(tiny_model, x, eps_normalised=0.3, step_normalised=0.1, steps=2, seed=7)
    b, _ = paper_style_pgd(tiny_model, x, eps_normalised=0.3, step_normalised=0.1, steps=2, seed=7)
    c, _ = paper_style_pgd(tiny_model, x, eps_normalised=0.3, step_normalised=0.1, steps=2, seed=8)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(torch.get_rng_state(), state)
    assert tiny_model.training is start_training and all(p.requires_grad for p in tiny_model.parameters())


@pytest.mark.parametrize("kwargs, match", [
    (dict(eps_normalised=0.0, step_normalised=0.1), "eps_normalised must be > 0"),
    (dict(eps_normalised=0.1, step_normalised=0.2), "step_normalised must be in"),
    (dict(eps_normalised=0.1, step_normalised=0.1, steps=0), "steps must be >= 1"),
])
def test_bad_arguments_are_rejected(tiny_model, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        paper_style_pgd(tiny_model, torch.rand(2, 1, 28, 28), **kwargs)


def test_cached_run_evaluation_is_the_attack_on_the_runs_first_images(tmp_path, data_root):
    config = TrainConfig(dataset="fashion-mnist", method="std", epochs=1, train_subset=200, test_subset=40,
                         eval_subset=20, eval_steps=1, batch_size=50, precision="fp32")
    run = load_run(ensure_run(config, tmp_path, data_dir=data_root, device="cpu", progress=False))
    frame = paper_style_evaluation(run, n=0, steps=3, data_dir=data_root)
    assert list(frame.columns) == ["y", "wrong", "label_not_true", "label_is_operation", "eps_pixels"]
    assert len(frame) == 20 and frame["eps_pixels"].tolist() == pytest.approx([config.resolved().eps * 0.3530] * 20)
    model = load_model(run.run_dir, "cpu", data_dir=data_root)
    x, y = run_test_images(config, 20, data_dir=data_root)
    budget = paper_style_budget(config.resolved().eps)
    expected = paper_style_wrong(model, x, y, eps_normalised=budget["eps_normalised"],
                                 step_normalised=budget["step_normalised"], steps=3)
    assert frame["y"].tolist() == y.tolist()
    assert frame["wrong"].tolist() == expected["wrong"].tolist()
    assert not frame["label_is_operation"].any()  # a std run has no operation outputs
    assert len(list((run.run_dir / "evals").glob("paper-style-n20-*.key.json"))) == 1
    pd.testing.assert_frame_equal(paper_style_evaluation(run, n=20, steps=3, data_dir=data_root), frame)


def _strong(y, **wrong):
    full = {r: wrong.get(r, np.zeros(len(y), bool)) for r in LADDER}
    return StrongEval({}, y, full, y.copy(), 0.0)


def _paper(y, wrong, op=None):
    op = np.zeros(len(y), bool) if op is None else op
    return pd.DataFrame({"y": y, "wrong": wrong, "label_not_true": wrong | op, "label_is_operation": op,
                         "eps_pixels": 0.0353})


def _case(adv_paper, plus_paper, adv_pgd, plus_pgd):
    y = np.arange(100) % 10
    strong = {"std": [_strong(y, **{"pgd-40": np.ones(100, bool), "ensemble": np.ones(100, bool)})],
              "adv": [_strong(y, **{"pgd-40": adv_pgd, "ensemble": adv_pgd})],
              "advplus": [_strong(y, **{"pgd-40": plus_pgd, "ensemble": plus_pgd})]}
    paper = {"std": [_paper(y, np.ones(100, bool))], "adv": [_paper(y, adv_paper)],
             "advplus": [_paper(y, plus_paper, op=np.arange(100) < 25)]}
    return paper, strong


def mask(k):
    return np.arange(100) < k


def test_a_gain_only_the_paper_style_attack_shows_is_called_a_hypothesis():
    paper, strong = _case(mask(70), mask(30), mask(60), mask(58))
    table, gains = R.paper_style_table(paper, strong), R.paper_style_gains(paper, strong)
    assert table.loc["Adv+", "paper-style_err"] == 30.0 and table.loc["Adv+", "label_is_operation_%"] == 25.0
    assert table.loc["Adv", "pgd-40_err"] == 60.0 and table.loc["Std", "n"] == 100
    assert gains.loc[R.ATTACKS["paper-style"], "gain_pp"] == pytest.approx(40.0)
    assert gains.loc[R.ATTACKS["paper-style"], "relative_%"] == pytest.approx(100 * 40 / 70)
    # McNemar by hand: the 40 discordant images all favour Adv+ (p = 2 / 2^40); PGD-40 has 2 (p = 0.5).
    assert gains.loc[R.ATTACKS["paper-style"], "p_value"] == pytest.approx(2 * 0.5 ** 40)
    assert gains.loc[R.ATTACKS["pgd-40"], "p_value"] == pytest.approx(0.5)
    assert gains["significant"].tolist() == [False, False, True] and (gains["seeds"] == 1).all()
    assert R.paper_style_outcome(gains) == "large gain only paper-style"
    text = R.paper_style_paragraph(table, gains, paper_style_budget(0.1))
    assert "hypothesis" in text and "not a finding about the authors" in text
    assert "Adv 70.00% and Adv+ 30.00% error" in text and "+40.00 pp" in text and "0.0353" in text


def test_no_gain_and_a_gain_everywhere_are_worded_as_such():
    paper, strong = _case(mask(60), mask(59), mask(60), mask(58))
    assert R.paper_style_outcome(R.paper_style_gains(paper, strong)) == "no paper-style gain"
    paper, strong = _case(mask(70), mask(30), mask(70), mask(40))
    gains = R.paper_style_gains(paper, strong)
    assert R.paper_style_outcome(gains) == "gain everywhere"
    assert "not supported here" in R.paper_style_paragraph(R.paper_style_table(paper, strong), gains,
                                                           paper_style_budget(0.1))


def test_evaluations_of_other_images_are_refused():
    paper, strong = _case(mask(70), mask(30), mask(60), mask(58))
    paper["adv"] = [paper["adv"][0].assign(y=0)]
    with pytest.raises(ConfigError, match="same images"):
        R.paper_style_table(paper, strong)
