"""The stage names Python and Scala share. Saved stages record their class as `bigwrap.ml.BigwrapModel`
/ `bigwrap.ml.BigwrapEstimator`: on the JVM those are the Scala classes (jvm/.../bigwrap/ml/), and
pyspark's readers import the same dotted path in Python, which resolves here to bigwrap's Python stages.
"""
from .estimator import Estimator as BigwrapEstimator
from .fitted import EstimatorModel as BigwrapModel

__all__ = ["BigwrapEstimator", "BigwrapModel"]
