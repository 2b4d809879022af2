"""bigwrap: deep learning on Apache Spark from Python, trained by BigDL on the JVM."""
from . import layers, losses, optimizers, regularizers, schedules
from .errors import JvmError, SetupError
from .estimator import Estimator
from .featurizer import Featurizer
from .fitted import EstimatorModel
from .images import ImageTransformer
from .importers import from_dl4j, from_keras, from_onnx, from_torch
from .initializers import set_random_seed
from .models import Model, Sequential, model_from_json
from .runtime import session
from .text import TokenSequencer, TokenSequencerModel

__version__ = "0.1.0"

__all__ = ["layers", "losses", "optimizers", "regularizers", "schedules", "Estimator", "EstimatorModel", "Featurizer",
           "ImageTransformer", "TokenSequencer", "TokenSequencerModel", "Model", "Sequential", "model_from_json",
           "from_dl4j", "from_keras", "from_onnx", "from_torch", "session", "set_random_seed", "SetupError", "JvmError",
           "__version__"]
