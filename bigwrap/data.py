"""DataFrame checks that run before any Spark job: columns, types, and sizes the schema knows."""
from __future__ import annotations

from math import prod

from pyspark.ml.linalg import VectorUDT
from pyspark.sql import DataFrame
from pyspark.sql.types import ArrayType, NumericType

from .losses import Loss


def require_column(df: DataFrame, column: str, role: str, param: str | None = None) -> None:
    if column not in df.columns:
        raise ValueError(f"{role} column {column!r} is not in the DataFrame; its columns are {df.columns}. "
                         f"Set {param or role + 'Col'} to one of them")


def check_features(df: DataFrame, column: str, dims: tuple[int, ...], model_name: str,
                   param: str = "featuresCol") -> None:
    require_column(df, column, "features", param)
    field = df.schema[column]
    size = prod(dims)
    if isinstance(field.dataType, VectorUDT):
        known = field.metadata.get("ml_attr", {}).get("num_attrs")
        if known is not None and known != size:
            raise ValueError(f"features column {column!r} holds vectors of size {known}, but model "
                             f"'{model_name}' takes input shape {(None, *dims)}, i.e. {size} values per row")
    elif not (isinstance(field.dataType, ArrayType) and isinstance(field.dataType.elementType, NumericType)):
        raise TypeError(f"features column {column!r} has type {field.dataType.simpleString()}; bigwrap reads an "
                        "ml Vector (e.g. from VectorAssembler), array<double> or array<float>")


def check_feature_columns(df: DataFrame, features: str | list[str], model, param: str = "featuresCol") -> None:
    """One features column per model input (a plain name for a single-input model); `param` names the
    setting the user gives them in."""
    columns = [features] if isinstance(features, str) else list(features)
    if not columns or not all(isinstance(c, str) for c in columns):
        raise TypeError(f"{param} must be a column name or a list of names, got {features!r}")
    if len(columns) != len(model._inputs):
        raise ValueError(f"model '{model.name}' has {len(model._inputs)} input(s) "
                         f"{[t.layer.name for t in model._inputs]} but {param} names {len(columns)} column(s) "
                         f"{columns}; give one column per input, in the same order")
    for column, tensor in zip(columns, model._inputs):
        check_features(df, column, tensor.dims, model.name, param)


def check_label(df: DataFrame, column: str, loss: Loss) -> None:
    require_column(df, column, "label")
    dtype = df.schema[column].dataType
    scalar = isinstance(dtype, NumericType)
    vector = isinstance(dtype, VectorUDT) or (isinstance(dtype, ArrayType) and isinstance(dtype.elementType, NumericType))
    if (scalar and loss.label != "vector") or (vector and loss.label != "index"):
        return
    wanted = {"index": "numeric class indices", "vector": "a one-hot / probability ml Vector or numeric array",
              "number": "numbers (a number, ml Vector or numeric array)"}[loss.label]
    hint = "; index string labels with pyspark.ml.feature.StringIndexer first" if loss.label == "index" else ""
    raise TypeError(f"label column {column!r} has type {dtype.simpleString()}; loss '{loss.name}' needs {wanted}{hint}")


def check_free_columns(df: DataFrame, columns: list[str], params: str = "predictionCol/probabilityCol") -> None:
    taken = [c for c in columns if c in df.columns]
    if taken:
        raise ValueError(f"the DataFrame already has column(s) {taken}; set {params} to other names or drop "
                         "those columns before transform")
