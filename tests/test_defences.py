"""Weakest-class defences: the held-out split never touches the training subset, the weakest
class is the one with the highest held-out error, the logit adjustment moves predictions towards
its class monotonically, and the bias chosen is the best of its grid."""
import numpy as np
import pandas as pd
import pytest
import torch

from labelaug_core.config import TrainConfig
from labelaug_core.data.readers import load_arrays
from labelaug_core.data.sampling import balanced_subset
from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.defences import (
    LogitAdjusted,
    choose_bias,
    class_bias,
    class_robustness,
    rank_weakest,
)
from labelaug_core.report.defences import PEERS, accuracy_summary, defence_table
from labelaug_core.runs.defences import heldout_indices

pytestmark = pytest.mark.usefixtures("one_thread")


def test_heldout_split_is_disjoint_from_the_training_subset_and_balanced(data_root):
    config = TrainConfig(train_subset=1000, test_subset=500)
    split, idx = heldout_indices(config, 200, data_dir=data_root)
    _, labels = load_arrays("fashion-mnist", "train", data_root)
    used = set(balanced_subset(labels, 1000).tolist())
    assert split == "train" and len(idx) == 200 == len(set(idx.tolist()))
    assert not used & set(idx.tolist())
    assert np.bincount(labels[idx].numpy(), minlength=10).tolist() == [20] * 10
    assert torch.equal(heldout_indices(config, 200, data_dir=data_root)[1], idx)  # a fixed choice
    # size 0: every training image the run leaves out
    assert len(heldout_indices(config, 0, data_dir=data_root)[1]) == len(labels) - 1000


def test_heldout_split_falls_back_to_unused_test_images_and_else_refuses(data_root):
    split, idx = heldout_indices(TrainConfig(train_subset=0, test_subset=2000), 100, data_dir=data_root)
    _, test_labels = load_arrays("fashion-mnist", "test", data_root)
    assert split == "test"
    assert not set(balanced_subset(test_labels, 2000).tolist()) & set(idx.tolist())
    with pytest.raises(ConfigError, match="no held-out data"):
        heldout_indices(TrainConfig(train_subset=0, test_subset=0), 100, data_dir=data_root)
    with pytest.raises(ConfigError, match="heldout_size must be at most 59000"):
        heldout_indices(TrainConfig(train_subset=1000), 59001, data_dir=data_root)


def test_heldout_split_of_a_folder_data_set_is_the_training_images_the_run_leaves_out(tmp_path):
    from datagen import write_image_folder

    from labelaug_core.data.loaders import load_examples, make_loader, split_labels
    from labelaug_core.runs.defences import heldout_data

    write_image_folder(tmp_path, {"train": {"a": 5, "b": 5, "c": 5}, "val": {"a": 2, "b": 2, "c": 2}})
    config = TrainConfig(dataset="imagefolder", train_subset=6, image_size=12)
    labels = split_labels("imagefolder", "train", str(tmp_path))
    assert labels.tolist() == [0] * 5 + [1] * 5 + [2] * 5
    loader = make_loader("imagefolder", "train", 3, train=True, data_dir=str(tmp_path), subset=6, num_workers=0)
    trained = set(loader.epoch_indices().tolist())
    split, idx = heldout_indices(config, 6, data_dir=str(tmp_path))
    assert split == "train" and not trained & set(idx.tolist()) and len(trained) == 6
    assert np.bincount(labels[idx].numpy()).tolist() == [2, 2, 2]
    split, x, y = heldout_data(config, 6, data_dir=str(tmp_path))
    assert x.shape == (6, 3, 12, 12) and 0 <= float(x.min()) and float(x.max()) <= 1
    assert torch.equal(y, labels[idx])
    # the unaugmented pixels of the files, as evaluation reads them
    eval_loader = make_loader("imagefolder", "train", 15, train=False, data_dir=str(tmp_path), num_workers=0)
    x_eval, _ = next(iter(eval_loader))  # in evaluation order (classes interleaved)
    position = {int(i): k for k, i in enumerate(eval_loader.epoch_indices())}
    torch.testing.assert_close(x, x_eval[[position[int(i)] for i in idx]])
    torch.testing.assert_close(load_examples("imagefolder", "train", idx, data_dir=str(tmp_path))[0], x)


def test_weakest_class_is_the_highest_error_ties_to_the_lower_index():
    errs = [10.0, 80.0, 30.0, 80.0, np.nan, 5.0]
    assert rank_weakest(errs) == [1]
    assert rank_weakest(errs, 3) == [1, 3, 2]
    assert rank_weakest(errs, 5) == [1, 3, 2, 0, 5]  # the absent class (NaN) is never chosen
    with pytest.raises(ConfigError, match="n must be between 1 and"):
        rank_weakest(errs, 6)


def test_logit_adjustment_moves_predictions_to_the_class_monotonically(trained_cnn, fmnist_test, tiny_model):
    x = fmnist_test[0][:200]
    weak = 6
    with torch.no_grad():
        base = trained_cnn(x)
        predicted_weak = []
        for b in (-4.0, -1.0, 0.0, 0.5, 1.0, 2.0, 4.0, 1000.0):
            adjusted = LogitAdjusted(trained_cnn, class_bias(10, [weak], b))
            out = adjusted(x)
            assert out.shape == base.shape and (adjusted.num_classes, adjusted.num_ops) == (10, 0)
            torch.testing.assert_close(out - base, class_bias(10, [weak], b).expand_as(base), rtol=0, atol=1e-3)
            predicted_weak.append((out[:, :10].argmax(1) == weak))
    # Each larger bias keeps every image already sent to the class and may add more.
    for smaller, larger in zip(predicted_weak, predicted_weak[1:]):
        assert bool((larger | ~smaller).all())
    counts = [int(p.sum()) for p in predicted_weak]
    assert counts[0] < counts[2] < counts[-1] == len(x)
    # With M operation outputs (Adv+), only the chosen class logit moves.
    with torch.no_grad():
        z, z_adj = tiny_model(x[:8]), LogitAdjusted(tiny_model, class_bias(10, [2], 1.5))(x[:8])
    assert z_adj.shape == (8, 11)
    torch.testing.assert_close(z_adj[:, [i for i in range(11) if i != 2]], z[:, [i for i in range(11) if i != 2]])
    torch.testing.assert_close(z_adj[:, 2], z[:, 2] + 1.5)
    with pytest.raises(ConfigError, match=r"bias must have shape \(10,\)"):
        LogitAdjusted(tiny_model, torch.zeros(11))


def test_choose_bias_picks_the_best_worst_class_robust_accuracy(trained_cnn, fmnist_test):
    x, y = fmnist_test[0][:100], fmnist_test[1][:100]
    best, grid = choose_bias(trained_cnn, x, y, 0.03, 6, [0.0, 1.0, 3.0], steps=2)
    assert grid["bias"].tolist() == [0.0, 1.0, 3.0]
    top = grid["robust_worst_acc"].max()
    assert grid.set_index("bias").loc[best, "robust_worst_acc"] == top
    # bias 0 is the unadjusted model, attacked the same way
    plain = class_robustness(trained_cnn, x, y, 0.03, steps=2)
    assert grid.loc[0, "robust_worst_acc"] == pytest.approx(plain["robust_acc"].min())
    assert grid.loc[0, "clean_avg_acc"] == pytest.approx(plain["clean_acc"].mean())
    # a huge bias sends everything to class 6: its clean accuracy 100%, every other class 0%
    _, extreme = choose_bias(trained_cnn, x, y, 0.03, 6, [1000.0], steps=1)
    assert extreme.loc[0, "weak_class_robust_acc"] == 100.0 and extreme.loc[0, "robust_worst_acc"] == 0.0


def test_accuracy_summary_and_table_by_hand():
    a = pd.DataFrame({"clean_err": [10.0, 20.0, 30.0], "pgd_err": [40.0, 60.0, 80.0]})
    b = pd.DataFrame({"clean_err": [20.0, 20.0, 20.0], "pgd_err": [50.0, 50.0, 50.0]})
    s = accuracy_summary(a)
    assert s == pytest.approx({"clean_avg_acc": 80.0, "clean_worst_acc": 70.0, "clean_sd": np.std([90, 80, 70]),
                               "robust_avg_acc": 40.0, "robust_worst_acc": 20.0, "robust_sd": np.std([60, 40, 20])})
    table = defence_table({"ours": [a, b]})
    assert table.loc["ours", "robust_worst_acc"] == pytest.approx((20.0 + 50.0) / 2)  # mean over seeds
    assert list(table.index[1:]) == list(PEERS.index)
    assert table.loc[PEERS.index, "robust_sd"].isna().all()
    assert table.loc["AT + CFA (peers)", "robust_worst_acc"] == 24.4
