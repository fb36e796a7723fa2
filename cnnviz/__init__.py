"""cnnviz: watch a convolutional neural network written in NumPy learn MNIST, and look inside it."""

__version__ = "0.1.0"
