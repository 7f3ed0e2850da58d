#!/usr/bin/env python3
"""Writes the byte-level BPE reference fixtures (issue 15): a small GPT-2/RoBERTa-style byte-level BPE trained here
with Hugging Face `tokenizers` on SST-2 train sentences, and the ids Hugging Face's RobertaTokenizerFast gives for
varied inputs with it (the same inputs as the WordPiece fixture, plus RoBERTa's special tokens inside text).

Needs `tokenizers` and `transformers` (a virtual environment outside the repository). Output:
Tests/TokenizersTests/Fixtures/bpe/{vocab.json,merges.txt} and Tests/TokenizersTests/Fixtures/bpe.json.

    python data-scripts/make_bpe_fixture.py [--glue ../shared/glue]
"""
import argparse
import csv
import json
import os

from tokenizers import ByteLevelBPETokenizer
from transformers import RobertaTokenizerFast

from make_tokenizer_fixtures import CASES

EXTRA = [
    ("<s>inside</s> text <pad> and <unk> and a <mask> token", None, None),
    ("no space<mask>here and  <mask> two spaces", None, None),
    ("I'm sure they'll say it's what we'd've DONE'S", None, None),
    ("mixed123numbers 4you and ٣٤ arabic digits ½ fraction", None, None),
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--glue", default="../shared/glue")
    args = parser.parse_args()
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "TokenizersTests", "Fixtures")
    with open(os.path.join(args.glue, "SST-2", "train.tsv"), newline="") as f:
        sentences = [row["sentence"] for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
    trainer = ByteLevelBPETokenizer()
    trainer.train_from_iterator(sentences, vocab_size=3000, min_frequency=2,
                                special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    os.makedirs(os.path.join(root, "bpe"), exist_ok=True)
    trainer.save_model(os.path.join(root, "bpe"))
    # transformers 5 takes the vocabulary and merges themselves (`vocab=`, `merges=`), file paths in 4.x.
    with open(os.path.join(root, "bpe", "vocab.json")) as f:
        vocab = json.load(f)
    with open(os.path.join(root, "bpe", "merges.txt")) as f:
        merges = [tuple(line.split()) for line in f.read().splitlines()[1:] if line and not line.startswith("#")]
    tokenizer = RobertaTokenizerFast(vocab=vocab, merges=merges)
    cases = []
    for a, b, max_length in CASES + EXTRA:
        kwargs = {"truncation": "longest_first", "max_length": max_length} if max_length else {}
        encoding = tokenizer(a, b, **kwargs)
        cases.append({"a": a, "b": b, "max_length": max_length, "input_ids": encoding["input_ids"]})
    with open(os.path.join(root, "bpe.json"), "w") as f:
        json.dump({"generator": "tokenizers ByteLevelBPETokenizer (SST-2 train, vocab 3000) + transformers RobertaTokenizerFast",
                   "cases": cases}, f, indent=1, ensure_ascii=False)
    print(f"{len(cases)} cases, vocabulary {tokenizer.vocab_size}")


if __name__ == "__main__":
    main()
