"""DataFrame checks that run before any Spark job: columns, types, and sizes the schema knows."""
from __future__ import annotations

from math import prod

from pyspark.ml.linalg import VectorUDT
from pyspark.sql import DataFrame
from pyspark.sql.types import ArrayType, NumericType

from .losses import Loss


def _require_column(df: DataFrame, column: str, role: str) -> None:
    if column not in df.columns:
        raise ValueError(f"{role} column {column!r} is not in the DataFrame; its columns are {df.columns}. "
                         f"Set {role}Col to one of them")


def check_features(df: DataFrame, column: str, dims: tuple[int, ...], model_name: str) -> None:
    _require_column(df, column, "features")
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


def check_label(df: DataFrame, column: str, loss: Loss) -> None:
    _require_column(df, column, "label")
    dtype = df.schema[column].dataType
    if isinstance(dtype, NumericType):
        return
    if loss.task != "multiclass" and (isinstance(dtype, VectorUDT) or (
            isinstance(dtype, ArrayType) and isinstance(dtype.elementType, NumericType))):
        return
    hint = ("; index string labels with pyspark.ml.feature.StringIndexer first" if loss.task == "multiclass"
            else "")
    raise TypeError(f"label column {column!r} has type {dtype.simpleString()}; loss '{loss.name}' needs "
                    f"{'numeric class indices' if loss.task == 'multiclass' else 'numbers'}{hint}")


def check_free_columns(df: DataFrame, columns: list[str]) -> None:
    taken = [c for c in columns if c in df.columns]
    if taken:
        raise ValueError(f"the DataFrame already has column(s) {taken}; set predictionCol/probabilityCol to "
                         "other names or drop those columns before transform")
