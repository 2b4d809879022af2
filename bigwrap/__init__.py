"""bigwrap: deep learning on Apache Spark from Python, trained by BigDL on the JVM.

The DSL (layers, models, losses, optimizers, importers' entry points) imports nothing of pyspark or py4j; the
Spark-facing names load on first use (PEP 562), so `import bigwrap.layers` starts no Spark machinery."""
from importlib import import_module as _import_module

from . import layers, losses, optimizers, regularizers, schedules
from .errors import JvmError, SetupError
from .importers import from_dl4j, from_keras, from_onnx, from_torch
from .initializers import set_random_seed
from .models import Model, Sequential, model_from_json

__version__ = "0.1.0"

# Spark-facing names, by the module that defines them.
_SPARK_FACING = {"Estimator": "estimator", "EstimatorModel": "fitted", "Featurizer": "featurizer",
                 "ImageTransformer": "images", "TokenSequencer": "text", "TokenSequencerModel": "text",
                 "session": "runtime"}

__all__ = ["layers", "losses", "optimizers", "regularizers", "schedules", "Model", "Sequential", "model_from_json",
           "from_dl4j", "from_keras", "from_onnx", "from_torch", "set_random_seed", "SetupError", "JvmError",
           "__version__", *_SPARK_FACING]


def __getattr__(name: str):
    if name not in _SPARK_FACING:
        raise AttributeError(f"module 'bigwrap' has no attribute {name!r}")
    value = getattr(_import_module(f".{_SPARK_FACING[name]}", __name__), name)
    globals()[name] = value  # later lookups skip this hook
    return value


def __dir__() -> list[str]:
    return sorted(name for name in {*globals(), *_SPARK_FACING} if not name.startswith("_") or name == "__version__")
