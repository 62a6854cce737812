#!/usr/bin/env bash
# The main job on the bundled sample photos: install, start the embedded service (`flyp serve`),
# upload, finetune, classify held-out photos, and print zero-shot and finetuned accuracy.
# Extra arguments go to examples/demo.py, e.g. --architecture ViT-B-32 --pretrained openai.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
echo "Installing the service into .venv (the first run downloads or unpacks torch; this takes minutes)..."
.venv/bin/pip install --quiet --disable-pip-version-check -e .

export FLYP_DATA_DIR=${FLYP_DATA_DIR:-$PWD/var/demo}
port=${FLYP_DEMO_PORT:-8765}
mkdir -p "$FLYP_DATA_DIR"
log="$FLYP_DATA_DIR/serve.log"

.venv/bin/flyp serve --port "$port" >"$log" 2>&1 &
serve_pid=$!
trap 'kill "$serve_pid" 2>/dev/null; wait "$serve_pid" 2>/dev/null || true' EXIT
echo "Started flyp serve on port $port (pid $serve_pid); its log is $log"

.venv/bin/python examples/demo.py --url "http://127.0.0.1:$port" --data examples/sample_data/ants-bees "$@"
