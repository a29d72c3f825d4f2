import pytest
import torch
import torch.nn.functional as F

from labelaug_core.errors import ConfigError
from labelaug_core.models import build_model, predict


@pytest.mark.parametrize("name,channels,size", [("small-cnn", 1, 28), ("preact-resnet18", 3, 32), ("resnet50", 3, 64)])
@pytest.mark.parametrize("num_ops", [0, 1])
def test_models_return_k_plus_m_logits(name, channels, size, num_ops):
    model = build_model(name, 10, num_ops, channels=channels, image_size=size).eval()
    assert (model.num_classes, model.num_ops) == (10, num_ops)
    with torch.no_grad():
        out = model(torch.rand(2, channels, size, size))
    assert out.shape == (2, 10 + num_ops)


def test_prediction_ignores_operation_logits():
    class Fixed(torch.nn.Module):
        num_classes, num_ops = 3, 1

        def forward(self, x):
            return torch.tensor([[0.0, 2.0, 1.0, 9.0]]).expand(len(x), 4)

    assert predict(Fixed(), torch.zeros(2, 1, 1, 1)).tolist() == [1, 1]


def test_normalisation_lives_inside_the_model():
    model = build_model("small-cnn", 10, channels=1)
    x = torch.rand(1, 1, 28, 28)
    torch.testing.assert_close(model.normalize(x), (x - 0.2860) / 0.3530)


def test_unknown_model_and_bad_pretrained_are_rejected():
    with pytest.raises(ConfigError, match="model must be one of"):
        build_model("vgg", 10)
    with pytest.raises(ConfigError, match="only resnet50 has pretrained weights"):
        build_model("small-cnn", 10, pretrained=True)


def test_torchvision_imports_with_the_shim():
    import torchvision.transforms.v2 as T

    assert T.RandomHorizontalFlip(p=1.0)(torch.arange(4.0).view(1, 1, 2, 2)).flatten().tolist() == [1.0, 0.0, 3.0, 2.0]


def test_small_cnn_pools_before_relu_yet_computes_conv_relu_pool():
    """Max-pooling and ReLU commute: the small CNN is the usual conv-ReLU-pool network."""
    torch.manual_seed(0)
    model = build_model("small-cnn", 10, channels=1, image_size=28).eval()
    conv1, conv2 = model.backbone.features[0], model.backbone.features[3]
    x = torch.rand(16, 1, 28, 28)
    h = model.normalize(x)
    h = F.max_pool2d(F.relu(conv1(h)), 2)
    h = F.max_pool2d(F.relu(conv2(h)), 2)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model.backbone.head(h))
    assert set(model.state_dict()) >= {"backbone.features.0.weight", "backbone.features.3.weight"}
