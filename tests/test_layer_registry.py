"""Where a layer lives: its Python class in `bigwrap/layers/<family>.py`, its builder in the twin
`spec/<Family>Layers.scala`, its row in tests/layer_cases.py and its lines in the catalogue, docs/models.md (the
generated family table and the configs table). These tests fail when a layer type is registered anywhere else, or a
family loses its twin."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from bigwrap import layers
from bigwrap.layers.base import Layer

ROOT = Path(__file__).resolve().parent.parent
SCALA_SPEC = ROOT / "jvm/src/main/scala/bigwrap/spec"
# The Python files that may never name a layer type: registries there would be second copies of the families.
DSL_FILES = [*(ROOT / "bigwrap/layers").glob("*.py"), *(ROOT / "bigwrap" / f for f in
             ("__init__.py", "models.py", "spec.py", "live_models.py"))]
PYTHON_FAMILIES = sorted(p.stem for p in (ROOT / "bigwrap/layers").glob("*.py")
                         if not p.stem.startswith("_") and p.stem != "base")
LAYER_TYPES = [(family, name) for family in layers.FAMILIES for name in layers._BY_FAMILY[family]]


def _twin(family: str) -> Path:
    return SCALA_SPEC / f"{family.title()}Layers.scala"


def _builder_keys(scala: Path) -> list[str]:
    """The layer types a family file's `builders` map registers."""
    text = scala.read_text()
    match = re.search(r"val builders: Map\[String, LayerBuilder\] = Map\((.*?)\)\n", text, re.S)
    return re.findall(r'"(\w+)"\s*->', match.group(1)) if match else []


def test_every_family_file_has_its_scala_twin_and_back():
    assert PYTHON_FAMILIES == sorted(layers.FAMILIES), "list a new family file in bigwrap.layers.FAMILIES"
    scala_families = sorted(p.name[:-len("Layers.scala")].lower() for p in SCALA_SPEC.glob("*Layers.scala"))
    assert scala_families == PYTHON_FAMILIES
    assert not (SCALA_SPEC / "Layers.scala").exists(), "a file named Layers.scala holds layers"


@pytest.mark.parametrize("family,name", LAYER_TYPES)
def test_a_layer_type_is_defined_and_built_in_its_family_files_only(family, name):
    defined = [p for p in DSL_FILES if re.search(rf"^class {name}\(", p.read_text(), re.M)]
    assert defined == [ROOT / "bigwrap/layers" / f"{family}.py"]
    registered = [p.name for p in sorted(SCALA_SPEC.glob("*.scala")) if name in _builder_keys(p)]
    assert registered == [_twin(family).name]
    # Elsewhere in the builder package a layer type is named only to compose it (a sub-layer spec).
    for scala in SCALA_SPEC.glob("*.scala"):
        if scala != _twin(family):
            for line in scala.read_text().splitlines():
                assert f'"{name}"' not in line or f'.spec("{name}"' in line, f"{scala.name}: {line.strip()}"
    named = [p.name for p in DSL_FILES if re.search(rf"[\"']{name}[\"']", p.read_text())]
    assert named == [], f"{name} is listed by name in {named}: derive it from the class"


def test_python_and_jvm_know_the_same_layer_types():
    python = {name for name, cls in Layer.registry.items() if not name.startswith("_") and cls.__module__ !=
              "bigwrap.layers.base" and cls.__module__.startswith("bigwrap.layers.")}
    jvm = {key for scala in SCALA_SPEC.glob("*Layers.scala") for key in _builder_keys(scala)}
    assert python == jvm == {name for _, name in LAYER_TYPES}


def test_the_spec_docs_describe_every_layer_type():
    text = (ROOT / "docs/models.md").read_text().split("## Layer configs", 1)[1].split("\n## ", 1)[0]
    documented = set()
    for row in re.findall(r"^\| ([^|]+) \|", text, re.M):
        for cell in re.findall(r"`(\w+(?:/\w+)?)`", row):
            base, _, other = cell.partition("/")  # `MaxPooling1D/2D`
            documented |= {base, base[:-len(other)] + other} if other else {base}
    assert documented == {name for _, name in LAYER_TYPES} | {"InputLayer"}
