"""Deeplearning4j models in bigwrap, without DL4J's jars: `from_dl4j(path)` reads a `ModelSerializer` zip.

The zip (any extension: `net.save` writes `.bin`) holds `configuration.json` (a MultiLayerConfiguration or
ComputationGraphConfiguration, modern or legacy JSON), `coefficients.bin` (the flat parameter vector, ND4J's binary
format) and optionally `updaterState.bin` (the optimizer's state, which bigwrap does not carry over).
"""
from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path

import numpy as np

from ... import losses, storage
from ...models import Model
from . import config, network
from .nd4j import read_dataset, read_ndarray

__all__ = ["from_dl4j", "load_network", "Dl4jNetwork", "read_ndarray", "read_dataset"]

# DL4J loss → (the bigwrap loss the Estimator trains, whether DL4J sums it over the outputs where bigwrap averages).
_LOSSES = {"MCXENT": (losses.CategoricalCrossentropy, False), "NEGATIVELOGLIKELIHOOD": (losses.CategoricalCrossentropy, False),
           "MSE": (losses.MeanSquaredError, False), "L2": (losses.MeanSquaredError, True),
           "MAE": (losses.MeanAbsoluteError, False), "L1": (losses.MeanAbsoluteError, True),
           "XENT": (losses.BinaryCrossentropy, True)}


class Dl4jNetwork:
    """An imported DL4J network: the bigwrap `model`, DL4J's loss as a bigwrap loss, and DL4J's flat parameter
    layout (`flat_params`, `flat_gradient`) for checking the import against DL4J's own numbers."""

    def __init__(self, model: Model, placements: list[network.Placement], dl4j_losses: list[str | None], source: str):
        self.model = model
        self.source = source
        self.dl4j_loss = dl4j_losses[0]
        self._placements = placements
        self._size = int(sum(p.index.size for p in placements))

    @property
    def loss(self) -> losses.Loss | None:
        """The bigwrap loss of the output layer's DL4J loss function (for the Estimator), or None without one."""
        entry = _LOSSES.get(self.dl4j_loss)
        return entry[0]() if entry else None

    def flat_params(self) -> np.ndarray:
        """The model's current weights as DL4J's flat parameter vector (what coefficients.bin holds)."""
        weights = {(layer.name, name): value for layer in self.model.layers
                   for name, value in zip(layer.weight_names, layer.get_weights())}
        flat = np.zeros(self._size, dtype=np.float32)
        for p in self._placements:
            value = weights[p.owner, p.name]
            flat[p.index] = p.transform[1](value) if p.transform else value
        return flat

    def flat_gradient(self, features, labels) -> np.ndarray:
        """DL4J's `getFlattenedGradients()` after `computeGradientAndScore()`: the gradient of the loss summed over
        the rows (no l1/l2), in DL4J's flat layout, computed by bigwrap on the JVM in training mode."""
        loss = self.loss
        if loss is None:
            raise ValueError(f"{self.source}: DL4J loss {self.dl4j_loss} has no bigwrap counterpart "
                             f"(supported: {', '.join(sorted(_LOSSES))})")
        dims = self.model._outputs[0].dims
        if len(dims) != 1:
            raise ValueError(f"{self.source}: flat_gradient needs a flat [N, outputs] output, this model outputs "
                             f"{(None, *dims)}")
        from ...live_models import loss_gradients  # the JVM: imported on use, as the DSL imports no Spark

        _, grads = loss_gradients(self.model, features, labels, loss)
        rows = len(np.asarray(labels))
        scale = rows * (dims[0] if _LOSSES[self.dl4j_loss][1] else 1)
        trainable = [(layer.name, name) for layer in self.model.layers for name in layer.trainable_weight_names]
        by_weight = dict(zip(trainable, grads))
        flat = np.zeros(self._size, dtype=np.float32)
        for p in self._placements:
            if (p.owner, p.name) in by_weight:  # moving statistics have no gradient
                flat[p.index] = by_weight[p.owner, p.name] * scale
        return flat


def _read(path: Path) -> tuple[dict, np.ndarray]:
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such DL4J model file")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: not a DL4J model (ModelSerializer writes a zip holding configuration.json and "
                         "coefficients.bin)")
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        if "configuration.json" not in names:
            raise ValueError(f"{path}: the zip has no configuration.json (it holds {sorted(names)}); not a DL4J model")
        try:
            root = json.loads(archive.read("configuration.json"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{path}: configuration.json is not valid JSON ({e})") from None
        if "coefficients.bin" in names and archive.getinfo("coefficients.bin").file_size:
            coefficients = read_ndarray(archive.read("coefficients.bin"), f"{path}!coefficients.bin")
        elif "noParams.marker" in names or "coefficients.bin" in names:
            coefficients = np.zeros(0, dtype=np.float32)
        else:
            raise ValueError(f"{path}: the zip has no coefficients.bin (the parameters); it holds {sorted(names)}")
        if "normalizer.bin" in names:
            warnings.warn(f"{path} holds a DL4J data normalizer (normalizer.bin), which bigwrap does not apply: "
                          "normalize the features as DL4J did before predicting", UserWarning, stacklevel=3)
    if not isinstance(root, dict):
        raise ValueError(f"{path}: configuration.json is not a DL4J configuration object")
    return root, coefficients.astype(np.float32).reshape(-1)


def load_network(path, input_shape=None) -> Dl4jNetwork:
    """Reads a DL4J model zip into a `Dl4jNetwork` (see `from_dl4j` for `input_shape`)."""
    with storage.local_copy(path) as local:  # a path on any store (bigwrap.storage)
        root, coefficients = _read(Path(local))
    name = "dl4j_" + "".join(c if c.isalnum() else "_" for c in Path(local).stem)
    if "vertices" in root and "networkInputs" in root:  # a ComputationGraphConfiguration
        model, net, dl4j_losses = network.computation_graph(config.graph(root), input_shape, name)
    else:
        model, net, dl4j_losses = network.multilayer(config.multilayer(root), input_shape, name)
    placements = net.placements(coefficients.size)
    weights = {(p.owner, p.name): p.transform[0](coefficients[p.index]) if p.transform else coefficients[p.index]
               for p in placements}
    model._set_weight_entries([(owner, weight, value) for (owner, weight), value in weights.items()])
    return Dl4jNetwork(model, placements, dl4j_losses, str(path))


def from_dl4j(path, input_shape=None) -> Model:
    """A DL4J `ModelSerializer` zip as a bigwrap model that takes and returns DL4J's own layouts.

    `input_shape` is DL4J's input array shape without the batch axis — (features,), (size, time_steps) or
    (channels, height, width) — needed where DL4J's configuration does not say (a network starting with a
    convolution without FeedForwardToCnn preprocessor, or a recurrent layer); for a graph, a dict by input name.
    """
    return load_network(path, input_shape).model
