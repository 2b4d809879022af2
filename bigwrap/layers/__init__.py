"""bigwrap layers, by family: one file each, mirrored on the JVM by `spec/<Family>Layers.scala`
(tests/test_layer_registry.py checks it). The public names are the layer classes the family files define."""
from importlib import import_module

from .base import Input, InputLayer, Layer

# The families in the order the catalogue (README's layer table) lists them.
FAMILIES = ("core", "activation", "convolutional", "pooling", "normalization", "embedding", "recurrent", "merging",
            "attention")


def _family_layers(family: str) -> dict[str, type[Layer]]:
    """The public layer classes `layers/<family>.py` defines, in definition order."""
    module = import_module(f".{family}", __name__)
    return {name: value for name, value in vars(module).items()
            if isinstance(value, type) and issubclass(value, Layer) and value.__module__ == module.__name__
            and not name.startswith("_")}


_BY_FAMILY = {family: _family_layers(family) for family in FAMILIES}
globals().update({name: cls for layers in _BY_FAMILY.values() for name, cls in layers.items()})

__all__ = ["Input", "InputLayer", "Layer", *(name for layers in _BY_FAMILY.values() for name in layers)]


def catalogue() -> str:
    """The README's table of supported layers, one row per family (file), generated from the family files."""
    rows = [f"| {family} | {', '.join(f'`{name}`' for name in layers)} |" for family, layers in _BY_FAMILY.items()]
    return "\n".join(["| family | layers |", "|---|---|", *rows])
