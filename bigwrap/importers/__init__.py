"""Models from other frameworks as ordinary bigwrap models (spec + weights in Keras layouts)."""
from .dl4j import from_dl4j
