"""Featurizer: the activations of one layer of a trained model as a vector column (transfer learning)."""
from __future__ import annotations

import json
from typing import Any

from pyspark import keyword_only
from pyspark.ml import Transformer
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasInputCol, HasInputCols, HasOutputCol
from pyspark.sql import DataFrame

from . import data, live_models, runtime
from .models import Model
from .params import JvmParams, OutputParams
from .persistence import Persistable


def _to_model(value: Any) -> Model:
    """A Model as it is, or the trained model inside a fitted EstimatorModel."""
    from .fitted import EstimatorModel

    if isinstance(value, EstimatorModel):
        value = value.model
    if not isinstance(value, Model):
        raise TypeError(f"Featurizer: model must be a bigwrap Model, Sequential or fitted EstimatorModel, "
                        f"got {type(value).__name__}")
    return value


class Featurizer(Transformer, HasInputCol, HasInputCols, HasOutputCol, JvmParams, Persistable):
    """Appends `outputCol`: the output of `layer` in `model` for each row of `inputCol`, flattened into an
    ml Vector, computed in batches on the executors' JVMs. A model with several inputs reads one column
    per input from `inputCols` instead, in the order of its inputs. With a pretrained network cut at its
    penultimate layer, a Spark ML classifier on these features is transfer learning:

        Pipeline(stages=[Featurizer(model=fitted, layer="dense", inputCol="image", outputCol="features"),
                         LogisticRegression()])

    A Python stage with no Scala class: its JVM work is one `featurize` call over the model's handle, and its
    model is a DSL object. `inferenceBatchSize` is the JVM BigwrapModel's Param: its default and rule come
    from there (JvmParams); the other Params name columns and the layer, and stay Python's.
    """

    _jvm_params = "bigwrap.ml.BigwrapModel"
    _python_only = frozenset({"model", "layer", "inputCol", "inputCols", "outputCol"})

    model = Param(Params._dummy(), "model", "the bigwrap model (or fitted EstimatorModel) to take activations "
                  "from", _to_model)
    layer = Param(Params._dummy(), "layer", "name of the layer whose output becomes the features; None: the "
                  "model's output", lambda v: None if v is None else TypeConverters.toString(v))
    inferenceBatchSize = OutputParams.inferenceBatchSize

    @keyword_only
    def __init__(self, *, model: Any = None, layer: str | None = None, inputCol: str = "features",
                 inputCols: list[str] | None = None, outputCol: str = "activations", inferenceBatchSize: int | None = None):
        super().__init__()
        self._setDefault(layer=None, inputCol="features", outputCol="activations")
        self._set_jvm_defaults()
        self._set_kwargs(self._input_kwargs)
        self._cut: tuple[Model, str | None, Model] | None = None

    @keyword_only
    def setParams(self, **kwargs: Any) -> "Featurizer":
        return self._set(**self._input_kwargs)

    def _cut_model(self) -> Model:
        """The model from its inputs to `layer`'s output; kept, so repeated transforms reuse its JVM copy."""
        if not self.isDefined(self.model):
            raise ValueError("Featurizer needs model= a bigwrap Model or fitted EstimatorModel")
        model, layer = self.getOrDefault(self.model), self.getOrDefault(self.layer)
        if self._cut is None or self._cut[0] is not model or self._cut[1] != layer:
            cut = model if layer is None else Model(model.inputs, model.get_layer(layer).output,
                                                    name=f"{model.name}_to_{layer}")
            self._cut = (model, layer, cut)
        return self._cut[2]

    def _input_columns(self) -> tuple[str | list[str], str]:
        """The features column(s) and the param that named them (Spark ML's inputCol-or-inputCols rule)."""
        several = self.getOrDefault(self.inputCols) if self.isSet(self.inputCols) else None
        if several is None:
            return self.getInputCol(), "inputCol"
        if self.isSet(self.inputCol):
            raise ValueError("Featurizer: set inputCol (a single-input model) or inputCols (one column per "
                             "model input), not both")
        return list(several), "inputCols"

    def _transform(self, dataset: DataFrame) -> DataFrame:
        cut = self._cut_model()
        columns, param = self._input_columns()
        if param == "inputCol" and len(cut.inputs) > 1:
            raise ValueError(f"Featurizer: model '{cut.name}' has {len(cut.inputs)} inputs; set inputCols to one "
                             f"column per input, in the order {[t.layer.name for t in cut.inputs]}")
        data.check_feature_columns(dataset, columns, cut, param=param)
        data.check_free_columns(dataset, [self.getOutputCol()], params="outputCol")
        self._check_params("Featurizer")
        bridge = runtime.bridge(dataset.sparkSession)
        config = {"features_col": columns, "output_col": self.getOutputCol(),
                  "batch_size": self.getOrDefault(self.inferenceBatchSize)}
        jdf = bridge.call("LiveModels.featurize", dataset._jdf, live_models.handle(cut, bridge), json.dumps(config))
        return DataFrame(jdf, dataset.sparkSession)
