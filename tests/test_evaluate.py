import numpy as np
import pytest

from labelaug_core.evaluation.metrics import (
    Predictions,
    class_stats,
    confusion_matrix,
    error_pct,
    per_class_error,
    summarize,
)


def test_error_and_per_class_error_by_hand():
    y = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 1, 1, 1, 0, 0])
    assert error_pct(y, pred) == pytest.approx(50.0)
    np.testing.assert_allclose(per_class_error(y, pred, 3), [50.0, 0.0, 100.0])
    stats = class_stats(per_class_error(y, pred, 3))
    assert stats["mean"] == pytest.approx(50.0)
    assert stats["sd"] == pytest.approx(np.sqrt((0 + 2500 + 2500) / 3))  # population SD
    assert stats["worst"] == 100.0


def test_confusion_matrix_rows_are_true_classes():
    cm = confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 2, 1, 1]), 3)
    np.testing.assert_array_equal(cm, [[1, 0, 1], [0, 1, 0], [0, 1, 0]])
    assert cm.sum() == 4


def test_summarize_counts_attacks_only_on_attacked_examples():
    y = np.array([0, 1, 0, 1])
    pred = Predictions(y=y, clean=np.array([0, 1, 1, 1]), fgsm=np.array([1, 1, -1, -1]),
                       pgd=np.array([1, 0, -1, -1]), attacked=np.array([True, True, False, False]))
    metrics, per_class = summarize(pred, 2)
    assert metrics["clean_err"] == 25.0 and metrics["fgsm_err"] == 50.0 and metrics["pgd_err"] == 100.0
    assert metrics["n_attacked"] == 2
    np.testing.assert_allclose(per_class["pgd"], [100.0, 100.0])
