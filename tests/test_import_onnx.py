"""bigwrap.from_onnx against onnxruntime, the oracle: models built here with onnx.helper."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper

import bigwrap

TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}
RNG = np.random.default_rng(0)


def _init(name, *shape, scale=0.3):
    return numpy_helper.from_array((RNG.normal(size=shape) * scale).astype(np.float32), name)


def _const(name, values, dtype=np.int64):
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


def _model(nodes, inputs, outputs, initializers, opset=17):
    graph = helper.make_graph(nodes, "test_graph",
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs],
                              initializers)
    # IR version 8 (ONNX 1.10): what onnxruntime reads whatever the onnx package's newest is
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    return model


def _compare(spark, proto, feeds, channels_last=()):
    """Predictions of the imported model equal onnxruntime's; inputs named in channels_last are images."""
    expected = onnxruntime.InferenceSession(proto.SerializeToString()).run(None, feeds)[0]
    model = bigwrap.from_onnx(proto.SerializeToString())
    ours = [x.transpose(0, 2, 3, 1) if name in channels_last else x for name, x in feeds.items()]
    got = model.predict(ours if len(ours) > 1 else ours[0])
    np.testing.assert_allclose(got, expected, **TOLERANCE)
    return model


def test_cnn_with_batch_norm_pooling_and_dense_head(spark, tmp_path):
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "g", "beta", "mean", "var"], ["n1"], name="bn1", epsilon=1e-3),
        helper.make_node("Relu", ["n1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], name="conv2", kernel_shape=[3, 3], strides=[1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Flatten", ["r2"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "w3", "b3"], ["d1"], name="fc1", transB=1),
        helper.make_node("Tanh", ["d1"], ["t1"], name="tanh"),
        helper.make_node("MatMul", ["t1", "w4"], ["m"], name="fc2"),
        helper.make_node("Add", ["m", "b4"], ["logits"], name="fc2_bias"),
        helper.make_node("Softmax", ["logits"], ["y"], name="softmax", axis=1),
    ]
    inits = [_init("w1", 4, 3, 3, 3), _init("b1", 4), _init("g", 4), _init("beta", 4), _init("mean", 4),
             numpy_helper.from_array(RNG.uniform(0.5, 1.5, 4).astype(np.float32), "var"),
             _init("w2", 6, 4, 3, 3), _init("b2", 6), _init("w3", 12, 6 * 2 * 2), _init("b3", 12),
             _init("w4", 12, 5), _init("b4", 5)]
    proto = _model(nodes, [("x", ["N", 3, 8, 8])], ["y"], inits)
    path = tmp_path / "cnn.onnx"
    onnx.save(proto, str(path))
    x = RNG.normal(size=(7, 3, 8, 8)).astype(np.float32)
    model = _compare(spark, proto, {"x": x}, channels_last=("x",))
    assert model.input_shape == (None, 8, 8, 3)  # images come channels-last, as everywhere in bigwrap
    # the flatten before the dense folds into the kernel's rows: no Permute layer, Keras-idiomatic spec
    kinds = [type(layer).__name__ for layer in model.layers]
    assert "Permute" not in kinds and kinds.count("Dense") == 2
    np.testing.assert_allclose(bigwrap.from_onnx(str(path)).predict(x.transpose(0, 2, 3, 1)),
                               model.predict(x.transpose(0, 2, 3, 1)), rtol=0, atol=0)


def test_merges_layouts_padding_and_reshapes(spark):
    nodes = [
        helper.make_node("Gemm", ["a", "wa"], ["ha"], name="dense_a"),
        helper.make_node("Gemm", ["b", "wb", "bb"], ["hb"], name="dense_b"),
        helper.make_node("Add", ["ha", "hb"], ["s"], name="add"),
        helper.make_node("Mul", ["s", "hb"], ["m"], name="mul"),
        helper.make_node("Sub", ["m", "ha"], ["d"], name="sub"),
        helper.make_node("Max", ["d", "ha"], ["mx"], name="max"),
        helper.make_node("LeakyRelu", ["mx"], ["lr"], name="leaky", alpha=0.1),
        helper.make_node("Reshape", ["lr", "shape"], ["img"], name="to_image"),
        helper.make_node("Pad", ["img", "pads"], ["padded"], name="pad"),
        helper.make_node("Conv", ["padded", "wc"], ["conv"], name="conv", kernel_shape=[3, 3]),
        helper.make_node("AveragePool", ["conv"], ["avg"], name="avg", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Elu", ["avg"], ["e"], name="elu"),
        helper.make_node("Transpose", ["e", ], ["tr"], name="nhwc", perm=[0, 2, 3, 1]),
        helper.make_node("Transpose", ["tr"], ["back"], name="nchw", perm=[0, 3, 1, 2]),
        helper.make_node("GlobalAveragePool", ["back"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flat"),
        helper.make_node("Concat", ["flat", "hb"], ["cat"], name="concat", axis=1),
        helper.make_node("Sigmoid", ["cat"], ["y"], name="sigmoid"),
    ]
    inits = [_init("wa", 5, 32), _init("wb", 6, 32), _init("bb", 32), _const("shape", [-1, 2, 4, 4]),
             _const("pads", [0, 0, 1, 0, 0, 0, 1, 2]), _init("wc", 3, 2, 3, 3)]
    proto = _model(nodes, [("a", ["N", 5]), ("b", ["N", 6])], ["y"], inits)
    _compare(spark, proto, {"a": RNG.normal(size=(4, 5)).astype(np.float32),
                            "b": RNG.normal(size=(4, 6)).astype(np.float32)})


def _gates(name, dirs, gates, units, inputs, scale=0.4):
    return _init(name, dirs, gates * units, inputs, scale=scale)


def test_lstm_last_state_after_a_batch_first_transpose(spark):
    units, features = 5, 3
    nodes = [
        helper.make_node("Transpose", ["x"], ["seq_first"], name="time_major", perm=[1, 0, 2]),
        helper.make_node("LSTM", ["seq_first", "W", "R", "B"], ["", "h"], name="lstm", hidden_size=units),
        helper.make_node("Squeeze", ["h", "axis0"], ["last"], name="squeeze"),
        helper.make_node("Gemm", ["last", "wd", "bd"], ["y"], name="head"),
    ]
    inits = [_gates("W", 1, 4, units, features), _gates("R", 1, 4, units, units), _init("B", 1, 8 * units),
             _const("axis0", [0]), _init("wd", units, 2), _init("bd", 2)]
    proto = _model(nodes, [("x", ["N", 6, features])], ["y"], inits)
    _compare(spark, proto, {"x": RNG.normal(size=(5, 6, features)).astype(np.float32)})


def test_bidirectional_gru_sequence_output(spark):
    units, features, steps = 4, 3, 5
    nodes = [
        helper.make_node("Transpose", ["x"], ["seq_first"], name="time_major", perm=[1, 0, 2]),
        helper.make_node("GRU", ["seq_first", "W", "R", "B"], ["y_seq"], name="gru", hidden_size=units,
                         direction="bidirectional", linear_before_reset=1),
        helper.make_node("Transpose", ["y_seq"], ["batch_major"], name="batch_major", perm=[2, 0, 1, 3]),
        helper.make_node("Reshape", ["batch_major", "shape"], ["y"], name="join_directions"),
    ]
    inits = [_gates("W", 2, 3, units, features), _gates("R", 2, 3, units, units), _init("B", 2, 6 * units),
             _const("shape", [0, steps, 2 * units])]
    proto = _model(nodes, [("x", ["N", steps, features])], ["y"], inits)
    _compare(spark, proto, {"x": RNG.normal(size=(3, steps, features)).astype(np.float32)})


def test_unsupported_operators_are_all_named():
    nodes = [helper.make_node("Erf", ["x"], ["e"], name="gelu_erf"),
             helper.make_node("Relu", ["e"], ["r"], name="relu"),
             helper.make_node("Einsum", ["r", "r"], ["y"], name="mix", equation="bi,bi->bi")]
    proto = _model(nodes, [("x", ["N", 4])], ["y"], [])
    with pytest.raises(ValueError, match=r"unsupported operator\(s\) Erf \(node 'gelu_erf'\), Einsum \(node 'mix'\)"):
        bigwrap.from_onnx(proto)


def test_unsupported_attributes_and_inputs_are_explained(tmp_path):
    grouped = _model([helper.make_node("Conv", ["x", "w"], ["y"], name="grouped", kernel_shape=[3, 3], group=2,
                                       dilations=[2, 2])],
                     [("x", ["N", 4, 6, 6])], ["y"], [_init("w", 4, 2, 3, 3)])
    with pytest.raises(ValueError, match="Conv node 'grouped'.*dilated grouped.*group=2"):
        bigwrap.from_onnx(grouped)
    with pytest.raises(FileNotFoundError, match="no ONNX model file"):
        bigwrap.from_onnx(str(tmp_path / "missing.onnx"))
    dynamic = _model([helper.make_node("Relu", ["x"], ["y"])], [("x", ["N", "F"])], ["y"], [])
    with pytest.raises(ValueError, match="input 'x'.*fixed sizes"):
        bigwrap.from_onnx(dynamic)
