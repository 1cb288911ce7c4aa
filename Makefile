# make demo: set up .venv, then synthetic gestures -> prepare -> train -> evaluate -> app on a video.
# make test: set up .venv, then the test suite.
# make bench: the benchmarks under bench/, each printing its figures and a ratio against its baseline.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO := demo

.PHONY: demo test lint bench clean

$(BIN)/activate: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(BIN)/activate

demo: $(BIN)/activate
	$(BIN)/python synthetic.py $(DEMO)/synthetic --clips-per-class 120 --background-clips 480 --video $(DEMO)/gestures.mp4
	$(BIN)/python prepare.py $(DEMO)/synthetic --out $(DEMO)/data --gray
	$(BIN)/python train.py --data $(DEMO)/data --run $(DEMO)/model --fresh --epochs 25
	$(BIN)/python evaluate.py --run $(DEMO)/model --min-top1 0.85
	$(BIN)/python evaluate.py --run $(DEMO)/model --stream $(DEMO)/gestures.mp4
	$(BIN)/python app.py --run $(DEMO)/model --source $(DEMO)/gestures.mp4 --no-display --sync \
		--output $(DEMO)/gestures_annotated.mp4 --log $(DEMO)/predictions.jsonl --expect $(DEMO)/gestures.mp4.json

test: $(BIN)/activate
	$(BIN)/python -m pytest -q -n 2 --dist loadfile tests

lint: $(BIN)/activate
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: $(BIN)/activate
	$(BIN)/python bench/data_pipeline.py
	$(BIN)/python bench/app_latency.py
	$(BIN)/python bench/prepare_speed.py
	$(BIN)/python bench/models.py
	$(BIN)/python bench/conv_speed.py
	$(BIN)/python bench/stream_latency.py
	$(BIN)/python bench/recipe.py
	test -f $(DEMO)/model/model.keras || $(MAKE) demo  # the two below measure the demo's data and model
	$(BIN)/python bench/training_loop.py --data $(DEMO)/data
	$(BIN)/python bench/app_live.py --run $(DEMO)/model --minutes 3

clean:
	rm -rf $(DEMO)
