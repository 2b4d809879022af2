"""Models from other frameworks as ordinary bigwrap Models: spec + weights in Keras layouts."""
from .dl4j import from_dl4j
from .keras import from_keras
from .onnx import from_onnx
from .torch import from_torch

__all__ = ["from_dl4j", "from_keras", "from_onnx", "from_torch"]
