# Unitscope: `make run` opens the app, `make test` runs the whole test suite.
# Each creates .venv itself on first use (Python 3.10+, no network needed at run time).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test bench soak figures wheel wheelhouse install-offline clean slurm slurm-stop

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/unitscope

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build dist *.egg-info

# Packaging for offline lab workstations (see "Offline workstations" in README.md).
# WHEELHOUSE: the folder of wheels to carry over; CPU=1 makes it with CPU-only torch;
# PREFIX: where install-offline puts the application (default /opt/unitscope as root).
WHEELHOUSE ?= dist/wheelhouse

# Built with the venv's setuptools (no index needed); a venv without it builds isolated.
wheel: $(STAMP)
	$(BIN)/python -m pip wheel --no-deps --no-build-isolation -w dist . \
		|| $(BIN)/python -m pip wheel --no-deps -w dist .

wheelhouse: $(STAMP)
	packaging/wheelhouse.sh --python $(BIN)/python $(if $(CPU),--cpu) $(WHEELHOUSE)

install-offline:
	packaging/install_offline.sh $(if $(PREFIX),--prefix $(PREFIX)) $(WHEELHOUSE)

# The README's figure gallery (docs/figures/*.png), drawn by `unitscope figure` from real results.
figures: $(STAMP)
	$(BIN)/python docs/make_figures.py

bench: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m bench.run

soak: $(STAMP)
	UNITSCOPE_SOAK_SELECTIONS=1000 QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q tests/gui/test_soak.py

# A one-node SLURM on this machine (Debian, as root) for the cluster tests and for trying
# `unitscope submit --executor slurm` (see "Scaling out" in README.md).
slurm:
	packaging/slurm/local_slurm.sh start

slurm-stop:
	packaging/slurm/local_slurm.sh stop
