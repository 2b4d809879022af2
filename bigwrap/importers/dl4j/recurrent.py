"""DL4J's recurrent layers as bigwrap's: LSTM, GravesLSTM (peepholes), GravesBidirectionalLSTM, SimpleRnn and the
Bidirectional wrapper, with their parameters from DL4J's flat vector (W and RW column-major, gate blocks reordered).
"""
from __future__ import annotations

import numpy as np

from ... import layers as L
from .config import Activation, Dl4jLayer, activation, inner_layer
from .layers import features

# Keras LSTM gates i, f, c, o are DL4J's blocks [a (block input), f, o, g (input modulation)] in this order.
_LSTM_BLOCKS = (3, 1, 0, 2)
_RECURRENT = {"identity": "linear", "tanh": "tanh", "sigmoid": "sigmoid", "softsign": "softsign", "relu": "relu"}


def recurrent_activation(act: Activation, layer: Dl4jLayer, role: str) -> str:
    if act.name == "relu" and any(act.params.get(k) for k in ("max", "threshold", "negativeSlope")):
        raise layer.fail(f"{role} ReLU with parameters {act.params} is not supported")
    if act.name not in _RECURRENT:
        raise layer.fail(f"{role} '{act.name}' is not supported in recurrent layers "
                         f"(supported: {', '.join(sorted(_RECURRENT))})")
    return _RECURRENT[act.name]


def _lstm_weights(owner: str, prefix: str, n_in: int, n: int, peephole: bool):
    def weights(take):
        kernel = take((n_in, 4 * n), "F")
        recurrent = take((n, 4 * n + (3 if peephole else 0)), "F")
        bias = take((4 * n,))
        order = lambda m: np.concatenate([m[..., b * n:(b + 1) * n] for b in _LSTM_BLOCKS], axis=-1)
        entries = [(owner, f"{prefix}kernel", order(kernel)), (owner, f"{prefix}recurrent_kernel", order(recurrent[:, :4 * n])),
                   (owner, f"{prefix}bias", order(bias))]
        if peephole:  # columns 4n, 4n+1, 4n+2 hold the forget, output and input-modulation (Keras input) peepholes
            entries += [(owner, f"{prefix}input_gate_peephole_weights", recurrent[:, 4 * n + 2]),
                        (owner, f"{prefix}forget_gate_peephole_weights", recurrent[:, 4 * n]),
                        (owner, f"{prefix}output_gate_peephole_weights", recurrent[:, 4 * n + 1])]
        return entries
    return weights


def _recurrent_cell(layer: Dl4jLayer, n_in: int, name: str, owner: str, prefix: str = "", sequences: bool = True):
    """The Keras layer for an LSTM / GravesLSTM / SimpleRnn config and its parameter function."""
    n = int(layer.get("nout"))
    afn = recurrent_activation(layer.activation, layer, "activation")
    if layer.cls == "SimpleRnn":
        if layer.get("hasLayerNorm", False):
            raise layer.fail("SimpleRnn with layer normalization is not supported")
        cell = L.SimpleRNN(n, activation=afn, return_sequences=sequences, name=name)
        return cell, lambda take: [(owner, f"{prefix}kernel", take((n_in, n), "F")),
                                   (owner, f"{prefix}recurrent_kernel", take((n, n), "F")),
                                   (owner, f"{prefix}bias", take((n,)))]
    stored = layer.conf.get("gateActivationFn")
    gate_act = activation(stored, None, layer.where) if stored else Activation("sigmoid")
    gate = recurrent_activation(gate_act, layer, "gate activation")
    peephole = layer.cls in ("GravesLSTM", "GravesBidirectionalLSTM")
    cls = L.PeepholeLSTM if peephole else L.LSTM
    cell = cls(n, activation=afn, recurrent_activation=gate, return_sequences=sequences, unit_forget_bias=False,
               name=name)
    return cell, _lstm_weights(owner, prefix, n_in, n, peephole)


def recurrent(layer: Dl4jLayer, flow, net):
    return _recurrent_layer(layer, layer, net.expect(layer, flow, ("rnn",)), net)


def graves_bidirectional(layer: Dl4jLayer, flow, net):
    """Forward and backward GravesLSTM with their outputs summed; parameters WF, RWF, bF, WB, RWB, bB."""
    return _recurrent_layer(layer, layer, net.expect(layer, flow, ("rnn",)), net, merge_mode="sum")


def bidirectional(layer: Dl4jLayer, flow, net):
    """DL4J's Bidirectional wrapper around an LSTM / GravesLSTM / SimpleRnn: forward then backward parameters."""
    flow = net.expect(layer, flow, ("rnn",))
    modes = {"CONCAT": "concat", "ADD": "sum", "MUL": "mul", "AVERAGE": "ave"}
    mode = str(layer.get("mode", "CONCAT")).upper()
    if mode not in modes:
        raise layer.fail(f"Bidirectional mode {mode} is not supported ({', '.join(modes)})")
    return _recurrent_layer(layer, _wrapped(layer, "fwd"), flow, net, merge_mode=modes[mode])


def last_time_step(layer: Dl4jLayer, flow, net):
    """LastTimeStep around an LSTM / GravesLSTM / SimpleRnn: the recurrent layer returning its last step only."""
    flow = net.expect(layer, flow, ("rnn",))
    return net.with_kind(_recurrent_layer(layer, _wrapped(layer, "underlying"), flow, net, sequences=False), "ff")


def _wrapped(layer: Dl4jLayer, key: str) -> Dl4jLayer:
    inner = inner_layer(layer.get(key), layer.where)
    if inner.cls not in ("LSTM", "GravesLSTM", "SimpleRnn"):
        raise inner.fail(f"is not supported inside {layer.cls} (LSTM, GravesLSTM, SimpleRnn)")
    return inner


def _recurrent_layer(layer: Dl4jLayer, inner: Dl4jLayer, flow, net, merge_mode: str | None = None,
                     sequences: bool = True):
    """`inner`'s recurrent layer over `flow`, both ways when `merge_mode` says how to merge them; parameters of
    `layer`, the forward direction's first."""
    name, n_in = net.name(layer), features(inner, flow)
    if merge_mode is None:
        cell, weights = _recurrent_cell(inner, n_in, name, name, sequences=sequences)
    else:
        inner_cell, forward = _recurrent_cell(inner, n_in, f"{name}_cell", name, "forward_")
        _, backward = _recurrent_cell(inner, n_in, f"{name}_cell", name, "backward_")
        cell = L.Bidirectional(inner_cell, merge_mode=merge_mode, name=name)
        weights = lambda take: forward(take) + backward(take)
    out = net.apply(cell, flow)
    net.params(layer, weights)
    return out


LAYERS = {"LSTM": recurrent, "GravesLSTM": recurrent, "SimpleRnn": recurrent,
          "GravesBidirectionalLSTM": graves_bidirectional, "Bidirectional": bidirectional,
          "LastTimeStep": last_time_step}
