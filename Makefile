# Everything a fresh machine needs, in order: venv + pip deps, BigDL's jars (as wheels), Gradle, the JVM jar.
# Each step leaves a stamp or an artifact, so a second `make install` does nothing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
DEPS_STAMP := $(VENV)/.deps-installed
JAR    := jvm/build/libs/bigwrap-jvm.jar
SCALA_SOURCES := $(shell find jvm/src/main -type f 2>/dev/null)
BIGDL_WHEELS := bigdl-dllib-spark3==2.4.0 bigdl-core==2.4.0.dev0
# oneDNN v3 built on Intel OpenMP. Its wheel pins intel-openmp 2023 while mkl 2026 wants 2026; the JVM uses
# the libiomp5 BigDL loads anyway (native/README.md), hence --no-deps.
ONEDNN_RUNTIME := onednn-cpu-iomp==2023.2.0
ONEDNN_WHEELS := $(ONEDNN_RUNTIME) onednn-devel-cpu-iomp==2023.2.0
NATIVE_LIB := native/build/libbigwrap_native.so
NATIVE_SOURCES := $(wildcard native/src/*.cpp native/src/*.h)
PYTEST_ARGS ?=

.PHONY: install native wheel demo test bench clean gradle compiler
BENCH_DEPS := torch==2.13.0 pandas pyarrow matplotlib

install: $(DEPS_STAMP) $(JAR) $(NATIVE_LIB)

native: $(NATIVE_LIB)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# BigDL's dllib wheel pins pyspark 3.1.3 (broken on Python 3.11 + Java 17): we only want its jars, hence --no-deps.
$(DEPS_STAMP): pyproject.toml | $(VENV)/bin/python
	$(PIP) install -q --upgrade pip 'setuptools>=70.1'
	$(PIP) install -q -e '.[test]'
	$(PIP) install -q --no-deps $(BIGDL_WHEELS) $(ONEDNN_WHEELS)
	touch $@

# The JNI kernels (native/README.md): MKL (mkl_rt) and oneDNN from the venv, found through an RPATH (not
# RUNPATH: oneDNN's own dependencies must resolve there too) relative to the library itself, for its two
# homes: native/build/ in this checkout, and site-packages/bigwrap/native/ once the wheel is installed (the
# mkl and onednn wheels put their libraries in the environment's lib/, four levels up). No -fopenmp: that
# would link libgomp. -fno-math-errno: nothing reads errno, and it lets loops with sqrt vectorise (optim.cpp);
# -fno-trapping-math: nothing reads floating-point exception flags, and it lets loops that choose between
# computed values vectorise (attention.cpp's masked softmax).
$(NATIVE_LIB): $(NATIVE_SOURCES) $(DEPS_STAMP) | compiler
	@mkdir -p $(dir $@)
	JAVA_HOME=$$(dirname $$(dirname $$(realpath $$(command -v javac)))); \
	g++ -O3 -fno-math-errno -fno-trapping-math -std=c++17 -fPIC -shared -fvisibility=hidden -Wall -Wextra -Wno-unused-parameter \
	  -I$$JAVA_HOME/include -I$$JAVA_HOME/include/linux -I$(VENV)/include \
	  -o $@ $(filter %.cpp,$^) \
	  -L$(VENV)/lib -l:libmkl_rt.so.3 -l:libdnnl.so.3 -l:libiomp5.so \
	  -Wl,--disable-new-dtags,-rpath,'$$ORIGIN/../../$(VENV)/lib:$$ORIGIN/../../../..',--no-undefined,--as-needed

compiler:
	@command -v g++ >/dev/null 2>&1 || { echo "installing Debian's g++"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ >/dev/null; }

gradle:
	@command -v gradle >/dev/null 2>&1 || { echo "installing Debian's gradle"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gradle >/dev/null; }

$(JAR): $(SCALA_SOURCES) build.gradle $(DEPS_STAMP) | gradle
	SITE=$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
	gradle --offline --no-daemon -q \
	  -PsparkJars=$$SITE/pyspark/jars \
	  -PbigdlJars=$$SITE/bigdl/share/dllib/lib,$$SITE/bigdl/share/core/lib \
	  bigwrapJar

# dist/bigwrap-<version>-py3-none-<platform>.whl: the package with the JVM jar (bigwrap/jars/), the native
# library (bigwrap/native/) and the log configuration, built from a staging copy so the checkout stays a
# checkout. Platform-tagged (the library is x86-64 Linux code), Python-independent (JNI, not a CPython module).
WHEEL_STAGE := build/wheel-stage
wheel: $(DEPS_STAMP) $(JAR) $(NATIVE_LIB)
	rm -rf $(WHEEL_STAGE) dist/bigwrap-*.whl
	mkdir -p $(WHEEL_STAGE)/bigwrap/jars $(WHEEL_STAGE)/bigwrap/native dist
	cp -r bigwrap pyproject.toml $(WHEEL_STAGE)/
	find $(WHEEL_STAGE) -name __pycache__ -prune -exec rm -rf {} +
	cp $(JAR) $(WHEEL_STAGE)/bigwrap/jars/
	cp $(NATIVE_LIB) $(WHEEL_STAGE)/bigwrap/native/
	printf '[bdist_wheel]\nplat_name = %s\n' \
	  "$$($(PY) -c 'import sysconfig; print(sysconfig.get_platform().replace("-", "_").replace(".", "_"))')" \
	  > $(WHEEL_STAGE)/setup.cfg
	$(PIP) wheel -q --no-deps --no-build-isolation --disable-pip-version-check -w dist $(WHEEL_STAGE)

# What a fresh environment needs to install that wheel with no network (tests/test_wheel.py): this venv's
# versions of bigwrap's dependencies and the wheels nodes install with --no-deps, from pip's cache.
WHEELHOUSE := build/wheelhouse
WHEELHOUSE_STAMP := $(WHEELHOUSE)/.complete
$(WHEELHOUSE_STAMP): $(DEPS_STAMP)
	rm -rf $(WHEELHOUSE) && mkdir -p $(WHEELHOUSE)
	$(PIP) freeze --exclude-editable > $(WHEELHOUSE)/constraints.txt
	$(PY) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"], sep="\n")' \
	  > $(WHEELHOUSE)/requirements.txt
	$(PIP) wheel -q -r $(WHEELHOUSE)/requirements.txt -c $(WHEELHOUSE)/constraints.txt -w $(WHEELHOUSE)
	$(PIP) download -q --no-deps -d $(WHEELHOUSE) $(BIGDL_WHEELS) $(ONEDNN_RUNTIME)
	touch $@

demo: install
	$(PY) -m bigwrap demo

test: install $(WHEELHOUSE_STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

# Benchmarks need PyTorch (the baseline), Arrow (fast DataFrame creation) and matplotlib (the chart).
bench: install
	$(PIP) install -q $(BENCH_DEPS)
	PYTHONPATH=. $(PY) -m bench.run

clean:
	rm -rf jvm/build .gradle native/build build dist

# Test harnesses: tests/<name>_harness/pom.xml, test-only Java built by Maven, which resolves their pinned jars (into
# Maven's local repository, offline after the first fetch), compiles them into the git-ignored target/ and lists the
# classpath in target/classpath.txt. Nothing of them reaches bigwrap's jar or runtime classpath.
#   dl4j:    Deeplearning4j itself (~150 MB), the oracle of the DL4J import and export tests.
#   storage: HDFS and YARN miniclusters, the s3a connector and Spark's YARN module at pyspark's Hadoop and Spark
#            versions (~400 MB), for the storage and YARN tests (tests/storage_harness/pom.xml).
HARNESSES := dl4j storage
HARNESS_STAMPS := $(foreach h,$(HARNESSES),tests/$(h)_harness/target/.built)
.PHONY: dl4j-harness storage-harness clean-harnesses
dl4j-harness: tests/dl4j_harness/target/.built
storage-harness: tests/storage_harness/target/.built
.SECONDEXPANSION:
$(HARNESS_STAMPS): tests/%_harness/target/.built: tests/%_harness/pom.xml $$(shell find tests/$$*_harness/src -type f 2>/dev/null)
	@command -v mvn >/dev/null 2>&1 || { echo "installing Debian's maven"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven >/dev/null; }
	cd tests/$*_harness && mvn -q -B compile dependency:build-classpath \
	  -Dmdep.outputFile=target/classpath.txt -Dmdep.includeScope=runtime
	touch $@
test: $(HARNESS_STAMPS)
clean: clean-harnesses
clean-harnesses:
	rm -rf $(foreach h,$(HARNESSES),tests/$(h)_harness/target)
