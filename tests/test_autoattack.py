"""The strong ensemble is not AutoAttack (no FAB-T, no Square in its worst case), so the project must
show that it is not weaker in practice: on an adversarially trained small CNN (real Fashion-MNIST),
its robust error with the book's settings is at least torchattacks' standard AutoAttack's
(APGD-CE, APGD-T, FAB-T, Square 5000) minus 1 point, on the same images."""
import pytest
import torch
import torchattacks
from torch import nn

from labelaug_core.attacks.ensemble import DEFAULT_ENSEMBLE, ensemble_attack, ensemble_errors
from labelaug_core.config import TrainConfig
from labelaug_core.models import predict
from labelaug_core.train import train

N_IMAGES = 100  # one point of error = one image
EPS = 0.1  # the Fashion-MNIST profiles' L-inf radius, pixel units
BOOK = dict(attacks=DEFAULT_ENSEMBLE, apgd_steps=100, pgd_restarts=5, n_target_classes=9)  # the default profile's

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]


class FirstK(nn.Module):
    """The first K logits only: torchattacks attacks every output of the model it is given."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)[:, : self.model.num_classes]


@pytest.fixture(scope="module")
def robust_model(tmp_path_factory, data_root):
    """Adv+ (PGD-10 adversarial training with label augmentation, K + M = 11 outputs), 2 epochs on
    3000 images: robust enough that neither attack saturates at EPS."""
    config = TrainConfig(dataset="fashion-mnist", method="advplus", epochs=2, train_subset=3000, batch_size=100,
                         precision="fp32")
    model, _ = train(config, tmp_path_factory.mktemp("adv"), data_dir=data_root, device="cpu", progress=False)
    return model.eval()


def test_ensemble_finds_at_least_autoattacks_error_minus_one_point(robust_model, fmnist_test):
    x, y = fmnist_test[0][:N_IMAGES], fmnist_test[1][:N_IMAGES]
    _, fooled_by = ensemble_attack(robust_model, x, y, EPS, cascade=True, seed=0, **BOOK)
    ensemble_err = ensemble_errors(fooled_by)["worst"]
    x_aa = torchattacks.AutoAttack(FirstK(robust_model).eval(), norm="Linf", eps=EPS, version="standard",
                                   n_classes=10, seed=0)(x, y)
    assert (x_aa - x).abs().max() <= EPS + 1e-6
    with torch.no_grad():
        autoattack_err = 100.0 * float((predict(robust_model, x_aa) != y).float().mean())
        clean_err = 100.0 * float((predict(robust_model, x) != y).float().mean())
    assert clean_err + 5 <= autoattack_err <= 95, "the model must leave both attacks room to differ"
    assert ensemble_err >= autoattack_err - 1.0, (
        f"ensemble {ensemble_err:.1f}% < AutoAttack {autoattack_err:.1f}% - 1 point on {N_IMAGES} images")
