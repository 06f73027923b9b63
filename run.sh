#!/usr/bin/env bash
# Launch an agent for one benchmark task: the original system's command line, unchanged.
#
#   bash run.sh IMAGE BENCHMARK PROVIDER GPU_IDS TASK TIME_LIMIT ENV_FILE
#   bash run.sh IMAGE BENCHMARK PROVIDER GPU_IDS TASK TIME_LIMIT HF_TOKEN ENV_FILE
#
# A thin wrapper: every check and all behaviour live in `agent-harness run` (docs/harness.md).
# The Hugging Face token of the 8-argument form reaches the harness through its environment,
# never its argv, and is never printed. MLRB_RUN_ARGS adds further options, as words (quotes
# group, nothing is expanded or run), e.g. MLRB_RUN_ARGS="--network none --grace '10s'".
# MLRB_EVALUATE=1 evaluates the deliverable right after the run (agent-harness run --evaluate).
set -euo pipefail

usage() {
  cat >&2 <<'USAGE'
usage: bash run.sh IMAGE BENCHMARK PROVIDER GPU_IDS TASK TIME_LIMIT ENV_FILE
       bash run.sh IMAGE BENCHMARK PROVIDER GPU_IDS TASK TIME_LIMIT HF_TOKEN ENV_FILE

  IMAGE       agent image, e.g. my/agent:latest
  BENCHMARK   full_benchmark, mini_benchmark, smoke or mlrc_bench
  PROVIDER    openai, anthropic or none
  GPU_IDS     0, 0,1, all or none
  TASK        task name, e.g. edge_llm_training
  TIME_LIMIT  24h, 90m, 1h30m, 45s, or a plain number of seconds from 60 (3600)
  HF_TOKEN    Hugging Face token (passed to the agent as HF_TOKEN)
  ENV_FILE    dotenv file holding the provider's key

example: bash run.sh my/agent:latest full_benchmark openai 0 edge_llm_training 24h ./.env
more options: MLRB_RUN_ARGS="--network none" bash run.sh ...   (see agent-harness run --help)
evaluate after the run: MLRB_EVALUATE=1 bash run.sh ...
USAGE
  exit 2
}

if [[ $# -ne 7 && $# -ne 8 ]]; then
  echo "error: run.sh takes 7 or 8 arguments, got $#" >&2
  usage
fi

image=$1 benchmark=$2 provider=$3 gpu_ids=$4 task=$5 time_limit=$6
if [[ $# -eq 8 ]]; then
  hf_token=$7 env_file=$8
else
  hf_token="" env_file=$7
fi

if [[ "$image" == -* ]]; then
  # The harness would take it for an option (--help, --runtime ...); no image name starts so.
  echo "error: IMAGE '$image' starts with '-': an image name never does (an argument missing or out of order?)" >&2
  usage
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
harness="$here/.venv/bin/agent-harness"
if [[ ! -x "$harness" ]]; then
  harness=$(command -v agent-harness || true)
fi
if [[ -z "$harness" ]]; then
  echo "error: agent-harness is not installed" >&2
  echo "hint: run 'make dev' in $here, or pip install ./agent_contracts ./agent_tasks ./agent_harness" >&2
  exit 3
fi

extra=()
if [[ -n "${MLRB_RUN_ARGS:-}" ]]; then
  # Split into words as xargs does (quotes and backslashes group, nothing is expanded or run):
  # never eval, so $(...), `...` and ; in MLRB_RUN_ARGS stay plain text.
  mapfile -d '' extra < <(printf '%s' "$MLRB_RUN_ARGS" | xargs -r printf '%s\0')
  if ! wait "$!"; then
    echo "error: MLRB_RUN_ARGS cannot be split into words (an unmatched quote?)" >&2
    echo "hint: quote words with '...' or \"...\"; MLRB_RUN_ARGS is not evaluated by a shell" >&2
    exit 2
  fi
fi

if [[ "${MLRB_EVALUATE:-0}" == "1" ]]; then
  extra+=(--evaluate)
fi

args=(run "$image" --benchmark "$benchmark" --provider "$provider" --gpus "$gpu_ids"
  --task "$task" --time-limit "$time_limit" --env-file "$env_file" "${extra[@]}")

if [[ -n "$hf_token" ]]; then
  HF_TOKEN=$hf_token exec "$harness" "${args[@]}"
fi
exec "$harness" "${args[@]}"
