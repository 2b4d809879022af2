"""bigwrap layers, by family (one file each)."""
from .activation import ELU, LeakyReLU, ReLU, Softmax
from .attention import MultiHeadAttention, TransformerEncoder
from .base import Input, InputLayer, Layer
from .convolutional import (Conv1D, Conv2D, Cropping2D, DepthwiseConv2D, SeparableConv2D, UpSampling2D,
                            ZeroPadding2D)
from .core import Activation, Dense, Dropout, Flatten, Masking, Permute, RepeatVector, Reshape
from .embedding import Embedding, PositionEmbedding
from .merging import Add, Average, Concatenate, Maximum, Multiply, Subtract
from .normalization import BatchNormalization, LayerNormalization
from .pooling import (AveragePooling1D, AveragePooling2D, GlobalAveragePooling1D, GlobalAveragePooling2D,
                      GlobalMaxPooling1D, GlobalMaxPooling2D, LPPooling2D, MaxPooling1D, MaxPooling2D)
from .recurrent import GRU, LSTM, Bidirectional, PeepholeLSTM, SimpleRNN, TimeDistributed

__all__ = ["Input", "InputLayer", "Layer",
           "Dense", "Activation", "Dropout", "Masking", "Flatten", "Reshape", "Permute", "RepeatVector",
           "ReLU", "LeakyReLU", "ELU", "Softmax",
           "Conv1D", "Conv2D", "DepthwiseConv2D", "SeparableConv2D", "ZeroPadding2D", "Cropping2D", "UpSampling2D",
           "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D", "LPPooling2D",
           "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
           "BatchNormalization", "LayerNormalization", "Embedding", "PositionEmbedding",
           "SimpleRNN", "LSTM", "PeepholeLSTM", "GRU", "Bidirectional", "TimeDistributed",
           "Concatenate", "Add", "Subtract", "Multiply", "Average", "Maximum",
           "MultiHeadAttention", "TransformerEncoder"]


def catalogue() -> str:
    """The README's table of supported layers, one row per family (file), generated from the public layers."""
    families: dict[str, list[str]] = {}
    for name in __all__:
        cls = globals()[name]
        if name not in ("Input", "InputLayer", "Layer"):
            families.setdefault(cls.__module__.rsplit(".", 1)[-1], []).append(f"`{name}`")
    rows = [f"| {family} | {', '.join(names)} |" for family, names in families.items()]
    return "\n".join(["| family | layers |", "|---|---|", *rows])
