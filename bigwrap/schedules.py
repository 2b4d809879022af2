"""Learning-rate schedules (Keras names), passed as an optimizer's `learning_rate`.

Iteration-based schedules count global iterations (mini-batches) from 0 across epochs; on resume
they continue from the checkpoint's iteration. ReduceLROnPlateau watches the mean training loss
of each epoch (computed where the optimizer runs, so every parameter shard agrees).
"""
from __future__ import annotations

from typing import Any

from .layers._checks import positive_int as _steps
from .optimizers import Configured, _fraction, _positive


class Schedule(Configured):
    """A learning-rate schedule: its config goes to the JVM inside the optimizer's."""


class StepDecay(Schedule):
    """lr · gamma^(iteration // step_size)."""
    name = "step"

    def __init__(self, initial_learning_rate: float, step_size: int, gamma: float = 0.1):
        self.initial_learning_rate = _positive(initial_learning_rate, "initial_learning_rate", "StepDecay")
        self.step_size = _steps(step_size, "step_size", "StepDecay")
        self.gamma = _positive(gamma, "gamma", "StepDecay")


class ExponentialDecay(Schedule):
    """lr · decay_rate^(iteration / decay_steps), floored when `staircase` (keras.optimizers.schedules)."""
    name = "exponential"

    def __init__(self, initial_learning_rate: float, decay_steps: int, decay_rate: float, staircase: bool = False):
        self.initial_learning_rate = _positive(initial_learning_rate, "initial_learning_rate", "ExponentialDecay")
        self.decay_steps = _steps(decay_steps, "decay_steps", "ExponentialDecay")
        self.decay_rate = _positive(decay_rate, "decay_rate", "ExponentialDecay")
        self.staircase = bool(staircase)


class CosineDecay(Schedule):
    """Half a cosine from lr down to alpha·lr over `decay_steps`, then flat (keras.optimizers.schedules)."""
    name = "cosine"

    def __init__(self, initial_learning_rate: float, decay_steps: int, alpha: float = 0.0):
        self.initial_learning_rate = _positive(initial_learning_rate, "initial_learning_rate", "CosineDecay")
        self.decay_steps = _steps(decay_steps, "decay_steps", "CosineDecay")
        self.alpha = _fraction(alpha, "alpha", "CosineDecay")


class LinearWarmup(Schedule):
    """Ramps linearly up to `schedule`'s first rate over `warmup_steps`, then follows it."""
    name = "linear_warmup"

    def __init__(self, schedule: "Schedule | float", warmup_steps: int):
        if isinstance(schedule, (int, float)) and not isinstance(schedule, bool):
            schedule = StepDecay(schedule, step_size=1, gamma=1.0)
        if not isinstance(schedule, Schedule) or isinstance(schedule, (LinearWarmup, ReduceLROnPlateau)):
            raise ValueError(f"LinearWarmup: `schedule` must be a learning rate or an iteration schedule, got {schedule!r}")
        self.schedule = schedule
        self.warmup_steps = _steps(warmup_steps, "warmup_steps", "LinearWarmup")


class ReduceLROnPlateau(Schedule):
    """Multiplies the rate by `factor` after `patience` epochs whose mean training loss did not
    improve by `min_delta`, never below `min_learning_rate`."""
    name = "reduce_on_plateau"

    def __init__(self, initial_learning_rate: float, factor: float = 0.1, patience: int = 2,
                 min_delta: float = 1e-4, min_learning_rate: float = 0.0):
        self.initial_learning_rate = _positive(initial_learning_rate, "initial_learning_rate", "ReduceLROnPlateau")
        self.factor = _fraction(factor, "factor", "ReduceLROnPlateau")
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"ReduceLROnPlateau: expected a non-negative integer for `patience`, got {patience!r}")
        self.patience = patience
        self.min_delta = float(min_delta)
        self.min_learning_rate = float(min_learning_rate)


_BY_NAME = {cls.name: cls for cls in (StepDecay, ExponentialDecay, CosineDecay, LinearWarmup, ReduceLROnPlateau)}


def from_config(config: dict[str, Any]) -> Schedule:
    config = dict(config)
    cls = _BY_NAME.get(config.pop("name", None))
    if cls is None:
        raise ValueError(f"unknown learning-rate schedule {config!r}; known: {', '.join(_BY_NAME)}")
    if "schedule" in config:
        config["schedule"] = from_config(config["schedule"])
    return cls(**config)
