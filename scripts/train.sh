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
mkdir -p models
log="models/train-$name.log"
# trainable components of the pipeline and policies (non-trainable ones are skipped by Rasa)
total=$(grep -cE '^  - name: (bot\.nlu\.(tokenizer|tfidf)|RegexFeaturizer|CountVectors|DIET|LogisticRegression|CRF|RegexEntity|EntitySynonym|Memoization|RulePolicy|TEDPolicy)' "$config" || true)
echo "train: training $config into models/$name.tar.gz ($total components; measured: about 1-2 min on 2 cores); log: $log"
start=$(date +%s)
.venv-rasa/bin/rasa train --config "$config" --domain bot/domain --data bot/data nlu_data \
  --out models --fixed-model-name "$name" >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null' INT TERM
last=""
while kill -0 "$pid" 2>/dev/null; do
  sleep 3
  done_n=$(grep -c "Finished training component" "$log" || true)
  current=$(grep -o "Starting to train component '[^']*'" "$log" | tail -1 | cut -d"'" -f2 || true)
  if [ -n "$current" ] && [ "$current" != "$last" ]; then
    echo "train: $(( $(date +%s) - start )) s — training $current (${done_n}/${total} done)"
    last=$current
  elif [ $(( ($(date +%s) - start) % 15 )) -lt 3 ]; then
    echo "train: $(( $(date +%s) - start )) s — ${current:-reading data and validating} (${done_n}/${total} done)"
  fi
done
trap - INT TERM
if ! wait "$pid"; then
  echo "train: failed after $(( $(date +%s) - start )) s; last lines of $log:" >&2
  tail -n 30 "$log" >&2
  exit 1
fi
echo "train: done in $(( $(date +%s) - start )) s: models/$name.tar.gz"
# keep the two newest models of this config
ls -t models/"$(basename "$config" .yml)"-*.tar.gz 2>/dev/null | tail -n +3 | xargs -r rm -f
