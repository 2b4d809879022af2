"""Featurizer: a layer's activations as a vector column; cutting models with get_layer(name).output."""
from __future__ import annotations

import numpy as np
import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import LogisticRegression
from pyspark.sql import functions as F

import bigwrap
from bigwrap import layers


def _cnn(classes: int = 10) -> bigwrap.Sequential:
    return bigwrap.Sequential([
        layers.Input((8, 8, 1)),
        layers.Conv2D(16, 3, padding="same", activation="relu", name="conv"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(32, activation="relu", name="penultimate"),
        layers.Dense(classes, activation="softmax", name="classes"),
    ])


def _pixels(frame) -> np.ndarray:
    return np.array([r.features.toArray() for r in frame.orderBy("id").collect()], dtype=np.float32)


def test_layer_output_cuts_a_model_at_that_layer():
    bigwrap.set_random_seed(0)
    model = _cnn()
    cut = bigwrap.Model(model.inputs, model.get_layer("penultimate").output)
    assert cut.output_shape == (None, 32)
    assert [layer.name for layer in cut.layers][-1] == "penultimate"
    assert cut.get_layer("conv") is model.get_layer("conv")  # same layers, same weights
    shared = layers.Dense(4, name="shared_dense")
    left, right = layers.Input((3,)), layers.Input((3,))
    shared(left), shared(right)
    with pytest.raises(ValueError, match="'shared_dense'.*called 2 times"):
        shared.output
    with pytest.raises(ValueError, match="called 0 times"):
        layers.Dense(2, name="lonely").output


def test_penultimate_activations_equal_the_cut_models_predictions(digits):
    train, _ = digits
    bigwrap.set_random_seed(1)
    fitted = bigwrap.EstimatorModel(model=_cnn(), loss="sparse_categorical_crossentropy")
    frame = train.limit(300).withColumn("id", F.monotonically_increasing_id()).cache()
    featurizer = bigwrap.Featurizer(model=fitted, layer="penultimate", inputCol="features", outputCol="embedding",
                                    inferenceBatchSize=64)
    out = featurizer.transform(frame)
    assert out.columns == frame.columns + ["embedding"]
    got = np.array([r.embedding.toArray() for r in out.orderBy("id").collect()])
    cut = bigwrap.Model(fitted.model.inputs, fitted.model.get_layer("penultimate").output)
    expected = cut.predict(_pixels(frame).reshape(-1, 8, 8, 1))
    assert got.shape == (300, 32)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # a convolution's activations come flattened (height, width, channels) as Keras lays them out
    few = frame.orderBy("id").limit(5).cache()
    conv = bigwrap.Featurizer(model=fitted.model, layer="conv", outputCol="maps").transform(few)
    maps = np.array([r.maps.toArray() for r in conv.orderBy("id").collect()])
    conv_cut = bigwrap.Model(fitted.model.inputs, fitted.model.get_layer("conv").output)
    np.testing.assert_allclose(maps, conv_cut.predict(_pixels(few).reshape(-1, 8, 8, 1)).reshape(5, -1), atol=1e-5)


def test_featurizer_errors_name_the_setting(digits):
    train, _ = digits
    model = _cnn()
    with pytest.raises(ValueError, match=r"has no layer 'nope'.*'penultimate'"):
        bigwrap.Featurizer(model=model, layer="nope").transform(train)
    with pytest.raises(ValueError, match="Set inputCol"):
        bigwrap.Featurizer(model=model, inputCol="pixels").transform(train)
    with pytest.raises(ValueError, match="set outputCol"):
        bigwrap.Featurizer(model=model, outputCol="label").transform(train)
    with pytest.raises(TypeError, match="model must be a bigwrap Model"):
        bigwrap.Featurizer(model="resnet")


def test_a_model_of_two_inputs_reads_input_cols_and_keeps_them_when_saved(spark, tmp_path):
    bigwrap.set_random_seed(3)
    left, right = layers.Input((3,), name="left"), layers.Input((2,), name="right")
    joined = layers.Dense(4, activation="tanh", name="joined")(layers.Concatenate()([left, right]))
    model = bigwrap.Model([left, right], layers.Dense(2, name="head")(joined))
    x = np.random.default_rng(3).random((20, 5)).astype(np.float32)
    frame = spark.createDataFrame([(i, r[:3].tolist(), r[3:].tolist()) for i, r in enumerate(x)], ["id", "a", "b"])
    featurizer = bigwrap.Featurizer(model=model, layer="joined", inputCols=["a", "b"], outputCol="h")
    expected = bigwrap.Model(model.inputs, model.get_layer("joined").output).predict([x[:, :3], x[:, 3:]])
    got = np.array([r.h.toArray() for r in featurizer.transform(frame).orderBy("id").collect()])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    featurizer.write().save(str(tmp_path / "two_inputs"))
    loaded = bigwrap.Featurizer.load(str(tmp_path / "two_inputs"))
    assert loaded.getInputCols() == ["a", "b"]
    np.testing.assert_allclose([r.h.toArray() for r in loaded.transform(frame).orderBy("id").collect()], got)
    with pytest.raises(ValueError, match=r"has 2 inputs; set inputCols .* \['left', 'right'\]"):
        bigwrap.Featurizer(model=model).transform(frame)
    with pytest.raises(ValueError, match="inputCol .* or inputCols .*, not both"):
        bigwrap.Featurizer(model=model, inputCol="a", inputCols=["a", "b"]).transform(frame)
    with pytest.raises(ValueError, match=r"inputCols names 1 column"):
        bigwrap.Featurizer(model=model, inputCols=["a"]).transform(frame)


def test_pipeline_of_pretrained_cnn_features_and_logistic_regression(digits, tmp_path):
    """Transfer learning the sparkdl way: a CNN pretrained on digits 0-4 featurizes digits 5-9 for MLlib."""
    train, test = digits
    bigwrap.set_random_seed(2)
    pretrained = bigwrap.Estimator(model=_cnn(classes=5), loss="sparse_categorical_crossentropy",
                                   optimizer=bigwrap.optimizers.Adam(0.01), batchSize=32, epochs=10, seed=1,
                                   verbose=0).fit(train.filter("label < 5"))
    later_train = train.filter("label >= 5").withColumn("label", train.label - 5)
    later_test = test.filter("label >= 5").withColumn("label", test.label - 5)
    pipeline = Pipeline(stages=[
        bigwrap.Featurizer(model=pretrained, layer="penultimate", inputCol="features", outputCol="cnn_features"),
        LogisticRegression(featuresCol="cnn_features", maxIter=200)])
    model = pipeline.fit(later_train)
    predicted = model.transform(later_test)
    accuracy = predicted.selectExpr("avg(cast(prediction = label as double))").first()[0]
    assert accuracy >= 0.9
    model.write().save(str(tmp_path / "transfer"))
    loaded = PipelineModel.load(str(tmp_path / "transfer"))
    assert isinstance(loaded.stages[0], bigwrap.Featurizer)
    assert loaded.stages[0].getOrDefault("layer") == "penultimate"
    before = predicted.select("prediction", "probability").collect()
    assert loaded.transform(later_test).select("prediction", "probability").collect() == before
