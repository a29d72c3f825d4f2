import pytest
import torch
import torch.nn.functional as F

from labelaug_core.errors import ConfigError
from labelaug_core.losses import (
    augmented_targets,
    label_augmentation_loss,
    soft_cross_entropy,
)

K, M = 10, 2


def test_targets_are_the_paper_concatenation():
    y = torch.tensor([3, 7, 0])
    op = torch.tensor([0, 1, -1])
    t = augmented_targets(y, op, K, M, delta=0.03)
    assert t.shape == (3, K + M)
    expected = torch.zeros(3, K + M)
    expected[0, 3], expected[0, K + 0] = 0.97, 0.03
    expected[1, 7], expected[1, K + 1] = 0.97, 0.03
    expected[2, 0] = 1.0  # clean image: plain one-hot class, no operation label
    torch.testing.assert_close(t, expected)


@pytest.mark.parametrize("delta", [0.0, 0.01, 0.3, 0.99])
def test_targets_sum_to_one_and_are_non_negative(delta):
    g = torch.Generator().manual_seed(1)
    y = torch.randint(0, K, (64,), generator=g)
    op = torch.randint(-1, M, (64,), generator=g)
    t = augmented_targets(y, op, K, M, delta)
    torch.testing.assert_close(t.sum(1), torch.ones(64))
    assert (t >= 0).all()
    assert torch.allclose(t[op >= 0, :K].sum(1), torch.full(((op >= 0).sum(),), 1 - delta))


def test_delta_zero_is_cross_entropy_over_all_outputs():
    # label_augmentation_loss returns F.cross_entropy early at delta = 0, so calling it proves
    # nothing about the paper's formula there. The claim is about the formula: at delta = 0 its
    # targets are the one-hot class over all K + M outputs, and the soft cross-entropy on them
    # (soft_cross_entropy, the general path, no early return) is the cross-entropy.
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(32, K + M, generator=g)
    y = torch.randint(0, K, (32,), generator=g)
    op = torch.randint(0, M, (32,), generator=g)  # every image transformed: only delta makes it CE
    targets = augmented_targets(y, op, K, M, delta=0.0)
    torch.testing.assert_close(targets, F.one_hot(y, K + M).float())
    by_hand = -logits.log_softmax(1).gather(1, y[:, None]).mean()  # over all K + M, not the first K
    assert not torch.allclose(by_hand, F.cross_entropy(logits[:, :K], y))
    torch.testing.assert_close(soft_cross_entropy(logits, targets, y), by_hand)
    weight = torch.linspace(0.5, 2.0, K)
    torch.testing.assert_close(soft_cross_entropy(logits, targets, y, weight),
                               F.cross_entropy(logits, y, weight=torch.cat([weight, torch.ones(M)])))
    # The shortcut agrees with the formula and continues it: the loss is linear in delta, with slope
    # mean(log p_y - log p_op) by hand, and the line through the general path's values at
    # delta = 0.1 and 0.5 meets the early return's value at delta = 0.
    at_zero = label_augmentation_loss(logits, y, op, K, M, delta=0.0)
    torch.testing.assert_close(at_zero, by_hand)
    log_p = logits.log_softmax(1)
    slope = (log_p.gather(1, y[:, None]) - log_p.gather(1, (K + op)[:, None])).mean()
    assert abs(float(slope)) > 0.01
    for delta in (1e-6, 0.1, 0.5):
        torch.testing.assert_close(label_augmentation_loss(logits, y, op, K, M, delta), at_zero + delta * slope)
    low, high = (label_augmentation_loss(logits, y, op, K, M, d) for d in (0.1, 0.5))
    torch.testing.assert_close(low - 0.1 * (high - low) / 0.4, at_zero)


def test_no_ops_is_plain_cross_entropy():
    logits = torch.randn(16, K)
    y = torch.randint(0, K, (16,))
    loss = label_augmentation_loss(logits, y, torch.full((16,), -1), K, 0, delta=0.03)
    torch.testing.assert_close(loss, F.cross_entropy(logits, y))


def test_loss_is_soft_cross_entropy_and_gradient_is_softmax_minus_target():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(8, K + M, generator=g, requires_grad=True)
    y = torch.randint(0, K, (8,), generator=g)
    op = torch.randint(0, M, (8,), generator=g)
    delta = 0.1
    loss = label_augmentation_loss(logits, y, op, K, M, delta)
    t = augmented_targets(y, op, K, M, delta)
    manual = -(t * logits.log_softmax(1)).sum(1).mean()
    torch.testing.assert_close(loss, manual)
    (grad,) = torch.autograd.grad(loss, logits)
    torch.testing.assert_close(grad, (logits.softmax(1) - t).detach() / 8)


@pytest.mark.parametrize("delta", [-0.1, 1.0, 1.5])
def test_delta_outside_unit_interval_is_rejected(delta):
    with pytest.raises(ConfigError, match="delta must be in"):
        augmented_targets(torch.tensor([0]), torch.tensor([0]), K, M, delta)


def test_operation_label_out_of_range_is_rejected():
    with pytest.raises(ConfigError, match="op must be"):
        augmented_targets(torch.tensor([0]), torch.tensor([M]), K, M, 0.03)


def test_class_weight_is_a_weighted_mean_and_matches_torch_for_hard_targets():
    g = torch.Generator().manual_seed(4)
    logits = torch.randn(16, K + M, generator=g)
    y = torch.randint(0, K, (16,), generator=g)
    weight = torch.ones(K)
    weight[y[0]] = 3.0
    clean = torch.full((16,), -1)
    torch.testing.assert_close(label_augmentation_loss(logits, y, clean, K, M, 0.03, weight),
                               F.cross_entropy(logits, y, weight=torch.cat([weight, torch.ones(M)])))
    op = torch.zeros(16, dtype=torch.long)
    per_example = -(augmented_targets(y, op, K, M, 0.1) * logits.log_softmax(1)).sum(1)
    w = weight[y]
    torch.testing.assert_close(label_augmentation_loss(logits, y, op, K, M, 0.1, weight), (w * per_example).sum() / w.sum())
    torch.testing.assert_close(label_augmentation_loss(logits, y, op, K, M, 0.1, torch.ones(K)),
                               label_augmentation_loss(logits, y, op, K, M, 0.1))
