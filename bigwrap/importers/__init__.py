"""Models from other frameworks as ordinary bigwrap Models: spec + weights in Keras layouts."""
from .onnx import from_onnx
from .torch import from_torch

__all__ = ["from_onnx", "from_torch"]
