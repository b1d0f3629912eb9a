"""nn-grader: retrains and grades neural-network homework (Iris and MNIST, PyTorch or Keras)."""

__version__ = "0.1.0"
