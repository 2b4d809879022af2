"""Keras 3 models for the round-trip test (Sequential, functional with merges and shared layers, CNN, RNN): each a
builder of a keras.Model ending in a 3-class softmax, so all train with one loss. Keras on its torch backend."""
from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
from keras import layers as K  # noqa: E402


def _head(x):
    return K.Dense(3, activation="softmax", name="head")(x)


def mlp():
    return keras.Sequential([keras.Input((6,)), K.Dense(8, activation="relu"), K.Dense(3, activation="softmax")])


def mlp_built_without_input():
    model = keras.Sequential([K.Dense(5, activation="tanh"), K.Dropout(0.3), K.Dense(3, activation="softmax")])
    model.build((None, 6))
    return model


def mlp_with_batch_norm_and_activations():
    return keras.Sequential([keras.Input((6,)), K.Dense(8), K.BatchNormalization(), K.LeakyReLU(0.1),
                             K.Dense(8, activation="selu"), K.ELU(0.5), K.Dense(8), K.ReLU(),
                             K.Activation("gelu"), K.Dense(3), K.Softmax()])


def two_inputs_concatenated():
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    x = K.Concatenate()([K.Dense(5, activation="relu")(a), K.Dense(5, activation="sigmoid")(b)])
    return keras.Model([a, b], _head(x))


def shared_layer_siamese():
    a, b = keras.Input((4,), name="left"), keras.Input((4,), name="right")
    shared = K.Dense(6, activation="tanh", name="shared")
    return keras.Model([a, b], _head(K.Subtract()([shared(a), shared(b)])))


def residual_merges():
    x = keras.Input((6,))
    h = K.Dense(6, activation="relu")(x)
    added = K.Add()([x, h])
    mixed = K.Multiply()([added, K.Dense(6, activation="sigmoid")(x)])
    merged = K.Average()([mixed, K.Maximum()([h, added])])
    return keras.Model(x, _head(merged))


def cnn():
    return keras.Sequential([keras.Input((8, 8, 1)), K.Conv2D(4, 3, padding="same", activation="relu"),
                             K.MaxPooling2D(2), K.Conv2D(6, 3), K.Flatten(), K.Dense(3, activation="softmax")])


def cnn_batch_norm_global_pool():
    x = keras.Input((8, 8, 2))
    h = K.BatchNormalization()(K.Conv2D(6, 3, strides=2, padding="same", use_bias=False)(x))
    return keras.Model(x, _head(K.GlobalAveragePooling2D()(K.Activation("relu")(h))))


def depthwise_and_separable():
    return keras.Sequential([keras.Input((8, 8, 3)), K.DepthwiseConv2D(3, depth_multiplier=2, padding="same"),
                             K.SeparableConv2D(5, 3, activation="relu"), K.GlobalMaxPooling2D(),
                             K.Dense(3, activation="softmax")])


def dilated_and_padded_cnn():
    return keras.Sequential([keras.Input((8, 8, 1)), K.ZeroPadding2D(((1, 0), (2, 1))),
                             K.Conv2D(3, 3, dilation_rate=2, activation="elu"), K.Cropping2D(((1, 0), (0, 1))),
                             K.UpSampling2D(2), K.AveragePooling2D(3, strides=2), K.Flatten(),
                             K.Dense(3, activation="softmax")])


def conv1d_sequence():
    return keras.Sequential([keras.Input((10, 3)), K.Conv1D(4, 3, padding="same", activation="relu"),
                             K.MaxPooling1D(2), K.Conv1D(4, 2, strides=2), K.AveragePooling1D(2, padding="same"),
                             K.GlobalAveragePooling1D(), K.Dense(3, activation="softmax")])


def lstm():
    return keras.Sequential([keras.Input((5, 3)), K.LSTM(6), K.Dense(3, activation="softmax")])


def stacked_gru_time_distributed():
    return keras.Sequential([keras.Input((5, 3)), K.GRU(4, return_sequences=True),
                             K.TimeDistributed(K.Dense(2, activation="tanh")), K.GRU(4, go_backwards=True),
                             K.Dense(3, activation="softmax")])


def bidirectional_lstm():
    return keras.Sequential([keras.Input((5, 2)), K.Bidirectional(K.LSTM(3, return_sequences=True)),
                             K.Bidirectional(K.GRU(3), merge_mode="sum"), K.Dense(3, activation="softmax")])


def simple_rnn():
    return keras.Sequential([keras.Input((6, 2)), K.SimpleRNN(5, activation="relu"), K.Dense(3, activation="softmax")])


def embedding_lstm():
    return keras.Sequential([keras.Input((7,)), K.Embedding(12, 4), K.LSTM(5), K.Dense(3, activation="softmax")])


def reshape_permute_repeat():
    x = keras.Input((6,))
    h = K.Permute((2, 1))(K.Reshape((2, 3))(x))
    seq = K.RepeatVector(2)(K.Flatten()(h))
    return keras.Model(x, _head(K.LSTM(4)(seq)))


def layer_normalization():
    return keras.Sequential([keras.Input((6,)), K.Dense(8), K.LayerNormalization(), K.Activation("softplus"),
                             K.Dense(3, activation="softmax")])


def regularized_dense():
    return keras.Sequential([keras.Input((6,)), K.Dense(5, activation="relu", kernel_regularizer="l2"),
                             K.Dense(3, activation="softmax", kernel_initializer="he_normal")])


def frozen_layer():
    model = keras.Sequential([keras.Input((6,)), K.Dense(5, activation="relu", name="frozen"),
                              K.Dense(3, activation="softmax")])
    model.get_layer("frozen").trainable = False
    return model


def branchy_functional():
    x = keras.Input((8, 8, 1))
    a = K.Conv2D(3, 3, padding="same", activation="relu")(x)
    b = K.Conv2D(3, 1, activation="relu")(x)
    h = K.Concatenate(axis=-1)([a, b])
    h = K.MaxPooling2D(3, strides=2, padding="same")(h)
    return keras.Model(x, _head(K.Flatten()(h)))


def two_towers_shared_lstm():
    a, b = keras.Input((4, 2), name="first"), keras.Input((4, 2), name="second")
    encoder = K.LSTM(4, name="encoder")
    return keras.Model([a, b], _head(K.Concatenate()([encoder(a), encoder(b)])))


MODELS = [mlp, mlp_built_without_input, mlp_with_batch_norm_and_activations, two_inputs_concatenated,
          shared_layer_siamese, residual_merges, cnn, cnn_batch_norm_global_pool, depthwise_and_separable,
          dilated_and_padded_cnn, conv1d_sequence, lstm, stacked_gru_time_distributed, bidirectional_lstm, simple_rnn,
          embedding_lstm, reshape_permute_repeat, layer_normalization, regularized_dense, frozen_layer,
          branchy_functional, two_towers_shared_lstm]
