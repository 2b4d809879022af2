"""The stages' defaults and rules live once, on the JVM (bigwrap.ml Params); Python's stages report them, and
each bridge config is parsed strictly (a missing or unknown key is named)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import bigwrap
from bigwrap import layers
from bigwrap.runtime import bridge


def _model():
    return bigwrap.Sequential([layers.Input((4,)), layers.Dense(3, activation="softmax")])


@pytest.mark.parametrize("make,stage_class", [
    (lambda: bigwrap.Estimator(), "bigwrap.ml.BigwrapEstimator"),
    (lambda: bigwrap.EstimatorModel(model=_model(), loss="sparse_categorical_crossentropy"), "bigwrap.ml.BigwrapModel"),
    (lambda: bigwrap.Featurizer(model=_model()), "bigwrap.ml.BigwrapModel"),
])
def test_python_stages_report_the_jvm_defaults_and_docs(spark, make, stage_class):
    jvm = json.loads(bridge(spark).call("StageHandoff.params", stage_class))
    defaults = jvm["defaults"]
    assert defaults["inferenceBatchSize"] > 0 and defaults["featuresCol"] == "features"
    stage = make()
    shared = [p for p in stage.params if p.name in defaults]
    assert shared
    for param in shared:
        assert stage.getOrDefault(param) == defaults[param.name], param.name
        assert param.doc == jvm["docs"][param.name], param.name


def test_a_jvm_stage_checks_its_rules_with_the_pythons_message(spark):
    with pytest.raises(ValueError, match=r"^EstimatorModel: inferenceBatchSize must be positive, got -1$"):
        bridge(spark).call("StageHandoff.checkParams", "bigwrap.ml.BigwrapModel", '{"inferenceBatchSize": -1}',
                           "EstimatorModel")


@pytest.mark.parametrize("config,pattern", [
    ({"input_col": "image", "output_col": "x", "width": 2, "channels": 1, "channel_order": "RGB", "scale": 1.0},
     r"imagesToArrays: config key 'height' is missing"),
    ({"input_col": "image", "output_col": "x", "height": 2, "width": 2, "channels": 1, "channel_order": "RGB",
      "scale": 1.0, "heigth": 3}, r"imagesToArrays: unknown config key\(s\) 'heigth'"),
    ({"input_col": "image", "output_col": "x", "height": "two", "width": 2, "channels": 1, "channel_order": "RGB",
      "scale": 1.0}, r"imagesToArrays: config key 'height' has the wrong type"),
])
def test_bridge_configs_name_a_missing_unknown_or_mistyped_key(spark, no_spark_job, config, pattern):
    frame = spark.createDataFrame([(b"",)], "image binary")
    with no_spark_job, pytest.raises(ValueError, match=pattern):
        bridge(spark).call("PythonFacade.imagesToArrays", frame._jdf, json.dumps(config))


def _guide_defaults() -> dict[str, str]:
    """Each Param of the Params table in docs/training.md with the default the guide gives it."""
    path = Path(__file__).resolve().parent.parent / "docs" / "training.md"
    rows = [line.split(" | ") for line in path.read_text().splitlines() if line.startswith("| `")]
    table = {}
    for names, defaults, _ in (row[:3] for row in rows if len(row) >= 3):
        names = re.findall(r"`(\w+)`", names)
        values = [v.strip(" `") for v in re.split(r" / |, ", defaults)] if len(names) > 1 else [defaults.strip(" `")]
        assert len(values) == len(names), f"docs/training.md row {names}: one default per Param"
        table.update(zip(names, values))
    return table


def _as_written(value) -> set[str]:
    """How the guide writes a JVM default: an unset (off) Param has no value."""
    if value is None:
        return {"None", "one per core", "Spark's default", "—"}
    if isinstance(value, (bool, list)):
        return {str(value)}
    return {str(value), json.dumps(value)}


def test_the_guides_params_table_gives_the_jvms_defaults(spark):
    """The guide's table is a checked copy: every estimator Param is in it, with the JVM's default."""
    defaults = json.loads(bridge(spark).call("StageHandoff.params", "bigwrap.ml.BigwrapEstimator"))["defaults"]
    guide = _guide_defaults()
    for param in bigwrap.Estimator().params:
        assert param.name in guide, f"docs/training.md's Params table lacks {param.name}"
        if param.name not in {"model", "validationData", "loss"}:  # Python-only, or required (no default)
            assert guide[param.name] in _as_written(defaults.get(param.name)), param.name
