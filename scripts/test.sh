#!/usr/bin/env bash
# The whole test suite: data validation, NLU and dialogue tests against their targets, then pytest
# (unit tests and end-to-end tests against the real servers, database and Graph stand-in).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH" RASA_TELEMETRY_ENABLED=false SANIC_HOST=127.0.0.1
# Rasa 3.6 and its dependencies print pages of deprecation notices; keep the output readable.
export PYTHONWARNINGS="ignore::DeprecationWarning"
export DATABASE_URL="sqlite:///$PWD/var/test-suite.db"
rm -f var/test-suite.db*

echo "== rasa data validate"
rasa data validate --fail-on-warnings --quiet
echo "== rasa train (reuses the model when nothing changed)"
rasa train --fixed-model-name assistant --quiet 2>&1 | grep -E "trained and saved|Nothing changed" || true
echo "== rasa test nlu (held-out split), rasa test core (conversation stories), persona splits as rasa run parses"
rm -rf results
rasa test nlu --nlu tests/nlu/test_nlu.yml --model models/assistant.tar.gz --out results/nlu --quiet >results-nlu.log 2>&1 || { cat results-nlu.log; exit 1; }
rasa test core --stories tests/conversations --model models/assistant.tar.gz --out results/core --quiet >results-core.log 2>&1 || { cat results-core.log; exit 1; }
python scripts/heldout.py --model models/assistant.tar.gz --out results/heldout.json tests/nlu/heldout >results-heldout.log 2>&1 || { cat results-heldout.log; exit 1; }
sed -n "/group .*understood/,\$p" results-heldout.log
rm -f results-nlu.log results-core.log results-heldout.log
python scripts/check_results.py results
echo "== browser for the simulator tests (Debian's chromium)"
bash scripts/install_browser.sh
echo "== pytest"
python -m pytest tests -q -p no:cacheprovider
