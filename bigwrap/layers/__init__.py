"""bigwrap layers, by family (one file each)."""
from .base import Input, InputLayer, Layer
from .core import Activation, Dense, Dropout, Flatten

__all__ = ["Input", "InputLayer", "Layer", "Dense", "Activation", "Dropout", "Flatten"]
