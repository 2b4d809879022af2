"""torch.nn.LSTM / GRU calls for from_torch: each output becomes layers only when (and as) it is used."""
from __future__ import annotations

import numpy as np

from ._graph import Value
from ._recurrent import keras_rnn_weights


class _Recurrent:
    """One call of an LSTM/GRU module. Keras' layers return either the whole sequence or the last step, so
    `output` builds a return_sequences layer, `output[:, -1]` and `h_n` a last-step one."""

    class Lazy:
        def __init__(self, call: "_Recurrent"):
            self.call = call

    class Output(Lazy):
        def value(self) -> Value:
            return Value(self.call.top(True), (0, 1, 2) if self.call.batch_first else (1, 0, 2))

        def __getitem__(self, index):
            index = index if isinstance(index, tuple) else (index,)
            full = slice(None)
            last = (full, -1) if self.call.batch_first else (-1,)
            if index[:len(last)] != last or any(i != full for i in index[len(last):]) or self.call.dirs != 1:
                raise self.call.builder.fail(f"only the last step of a unidirectional layer's output "
                                             f"(output{list(last)}) can be indexed, got {index}")
            return Value(self.call.top(False), (0, 1))

    class Hidden(Lazy):
        def value(self) -> Value:
            call = self.call
            if call.layers != 1:
                raise self.call.builder.fail("h_n of a multi-layer module is not supported; use h_n[-1]")
            if call.dirs == 1:
                return Value(call.top(False), (None, 0, 1))
            t = call.builder.reshape_dsl(call.top(False), (2, call.units), call.where)
            return Value(t, (1, 0, 2))

        def __getitem__(self, index):
            if index not in (-1, self.call.layers * self.call.dirs - 1) or self.call.dirs != 1:
                raise self.call.builder.fail(f"only h_n[-1] of a unidirectional module can be indexed, got "
                                             f"h_n[{index!r}]")
            return Value(self.call.top(False), (0, 1))

    class CellState(Lazy):
        def value(self):
            raise self.call.builder.fail("the LSTM cell state c_n is not supported")

        def __getitem__(self, index):
            return self.value()

    def __init__(self, importer, module, x: Value, where: str):
        import torch

        self.kind = "LSTM" if isinstance(module, torch.nn.LSTM) else "GRU"
        self.builder, self.module, self.x, self.where = importer.builder, module, x, where
        self.dirs = 2 if module.bidirectional else 1
        self.layers, self.units, self.batch_first = module.num_layers, module.hidden_size, module.batch_first
        self._below: Value | None = None
        self._top: dict[bool, object] = {}

    def result(self):
        """What forward returns: (output, (h_n, c_n)) for an LSTM, (output, h_n) for a GRU."""
        output, hidden = _Recurrent.Output(self), _Recurrent.Hidden(self)
        return (output, (hidden, _Recurrent.CellState(self))) if self.kind == "LSTM" else (output, hidden)

    def directions(self, layer: int) -> list[list[np.ndarray]]:
        """Keras weights of each direction of one layer (PyTorch's gates: LSTM i, f, g, o; GRU r, z, n)."""
        out = []
        for suffix in ([""] if self.dirs == 1 else ["", "_reverse"]):
            get = lambda n: getattr(self.module, f"{n}_l{layer}{suffix}", None)
            w_ih, w_hh = get("weight_ih").detach().numpy(), get("weight_hh").detach().numpy()
            b_ih, b_hh = (np.zeros(w_ih.shape[0], np.float32) if get(b) is None else get(b).detach().numpy()
                          for b in ("bias_ih", "bias_hh"))
            out.append(keras_rnn_weights(self.kind, "ifco" if self.kind == "LSTM" else "rzh", w_ih, w_hh, b_ih, b_hh))
        return out

    def _layer(self, layer: int, source: Value, steps_axis: int, sequences: bool):
        name = self.where if self.layers == 1 else f"{self.where}_l{layer}"
        return self.builder.recurrent(self.kind, source, steps_axis, 2, self.directions(layer), self.units,
                                      sequences, name)

    def top(self, sequences: bool):
        """The last layer's output: (N, T, dirs·H) with `sequences`, else (N, dirs·H); built once per kind."""
        if sequences not in self._top:
            if self._below is None:
                source, steps = self.x, 1 if self.batch_first else 0
                for layer in range(self.layers - 1):
                    source, steps = Value(self._layer(layer, source, steps, True), (0, 1, 2)), 1
                self._below = source
            steps = 1 if self.layers > 1 or self.batch_first else 0
            self._top[sequences] = self._layer(self.layers - 1, self._below, steps, sequences)
        return self._top[sequences]
