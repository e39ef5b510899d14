#!/usr/bin/env bash
# Train the Rasa model into models/, skipping the work when the training inputs are unchanged:
# the model is named after a hash of bot/ and nlu_data/ (RASA_CONFIG picks the pipeline file).
set -euo pipefail
cd "$(dirname "$0")/.."
config=${RASA_CONFIG:-bot/config.yml}
if [ ! -f "$config" ]; then
  echo "train: $config not found — the bot's configuration is not in this checkout" >&2
  exit 1
fi
# inputs: training data, domain, configs, our NLU components and the normalisation they share
hash=$( (echo "$config"; { find bot nlu_data -type f \( -name '*.yml' -o -name '*.txt' -o -name '*.py' \) -print0; printf 'common/textnorm.py\0'; } | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-12)
name="$(basename "$config" .yml)-$hash"
if [ -f "models/$name.tar.gz" ]; then
  echo "train: models/$name.tar.gz is up to date"
  exit 0
fi
export RASA_TELEMETRY_ENABLED=false
.venv-rasa/bin/rasa train --config "$config" --domain bot/domain --data bot/data nlu_data \
  --out models --fixed-model-name "$name"
# keep the two newest models of this config
ls -t models/"$(basename "$config" .yml)"-*.tar.gz 2>/dev/null | tail -n +3 | xargs -r rm -f
