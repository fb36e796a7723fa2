"""Small user-made networks that differ from the reference in every way a view could assume:
1 to 4 conv layers, stride 2, padding, no pooling, two pools, sigmoid and tanh, squared error,
64 channels; and a network on RGB input."""

from __future__ import annotations

from cnnviz.nn.architecture import Architecture, LayerSpec

RELU, SIGMOID, TANH = LayerSpec("ReLU"), LayerSpec("Sigmoid"), LayerSpec("Tanh")
FLATTEN = LayerSpec("Flatten")


def conv(out: int, k: int, stride: int = 1, padding: int = 0) -> LayerSpec:
    return LayerSpec.of("Conv2D", out_channels=out, kernel_size=k, stride=stride,
                        padding=padding)


def pool(size: int = 2, stride: int = 2) -> LayerSpec:
    return LayerSpec.of("MaxPool2D", size=size, stride=stride)


def dense(out: int) -> LayerSpec:
    return LayerSpec.of("Dense", out_features=out)


def _arch(*layers: LayerSpec, loss: str = "SoftmaxCrossEntropy",
          input_shape: tuple[int, int, int] = (1, 28, 28)) -> Architecture:
    return Architecture(input_shape, layers, loss)


ARCHITECTURES: dict[str, Architecture] = {
    "one_conv_no_pool": _arch(conv(3, 5), RELU, FLATTEN, dense(10)),
    "two_pools_padding": _arch(conv(4, 3, padding=1), RELU, pool(), conv(6, 3, padding=1),
                               RELU, pool(), FLATTEN, dense(10)),
    "stride2_tanh": _arch(conv(4, 3, stride=2, padding=1), TANH, conv(6, 3, stride=2), TANH,
                          FLATTEN, dense(12), TANH, dense(10)),
    "four_convs_sigmoid": _arch(conv(3, 3), SIGMOID, conv(4, 3), SIGMOID, conv(5, 3, stride=2),
                                RELU, conv(6, 3), RELU, pool(), FLATTEN, dense(10)),
    "squared_error": _arch(conv(4, 5), SIGMOID, pool(3, 3), FLATTEN, dense(10), SIGMOID,
                           loss="MeanSquaredError"),
    # The architecture checker's largest channel count, in and out of a conv: mosaics page.
    "sixty_four_channels": _arch(conv(64, 3, padding=1), RELU, pool(), conv(64, 3), RELU,
                                 pool(), FLATTEN, dense(10)),
}

#: A colour network: its first conv's kernels are (out, 3, k, k), drawn as RGB images.
RGB_ARCHITECTURE = _arch(conv(6, 5), RELU, pool(), conv(20, 3), RELU, pool(), FLATTEN,
                         dense(10), input_shape=(3, 32, 32))
