"""The NumPy engine: layers, losses, optimizers, models, presets and model files. No Qt here."""

from cnnviz.nn.threads import use_single_blas_thread

use_single_blas_thread()

from cnnviz.nn.files import Checkpoint, ModelFileError, load_checkpoint, load_model, save_model
from cnnviz.nn.init import initialize
from cnnviz.nn.layers import Conv2D, Dense, Flatten, Layer, MaxPool2D, ReLU, Sigmoid, Tanh
from cnnviz.nn.losses import MeanSquaredError, SoftmaxCrossEntropy
from cnnviz.nn.model import Sequential
from cnnviz.nn.optim import SGD, Adam, Optimizer, make_optimizer
from cnnviz.nn.presets import PRESETS, Preset, get_preset, preset_for
from cnnviz.nn.trace import LayerTrace, Trace, capture

__all__ = [
    "Adam", "Checkpoint", "Conv2D", "Dense", "Flatten", "Layer", "LayerTrace", "MaxPool2D",
    "MeanSquaredError", "ModelFileError", "Optimizer", "PRESETS", "Preset", "ReLU", "SGD",
    "Sequential", "Sigmoid", "SoftmaxCrossEntropy", "Tanh", "Trace", "capture", "get_preset",
    "initialize", "load_checkpoint", "load_model", "make_optimizer", "preset_for", "save_model",
]
