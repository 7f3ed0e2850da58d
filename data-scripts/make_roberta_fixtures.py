#!/usr/bin/env python3
"""Writes the RoBERTa-family encoder fixtures (issue 15) from PyTorch + transformers (a venv outside the repository).

Tests/TransformerTests/Fixtures/
  tiny-roberta/   a random tiny RobertaForSequenceClassification saved by save_pretrained (an *unconverted* Hugging
                  Face folder: `roberta.`-prefixed names, fairseq's head as classifier.dense / classifier.out_proj)
                  with the project's byte-level BPE fixture (vocab.json, merges.txt, trained here on SST-2)
  tiny-xlmr/      a random tiny XLMRobertaForSequenceClassification with the project's SentencePiece fixture as its
                  sentencepiece.bpe.model (fairseq's id order)
  tiny-roberta-step.safetensors, tiny-xlmr-step.safetensors
                  the batch Hugging Face's tokenizer makes of TEXTS (input_ids, attention_mask; padded to the longest),
                  labels, logits, loss and the gradient of the mean loss for every parameter (`grad.<canonical name>`,
                  canonical as the suite names them: no `roberta.` prefix, classifier.dense → pooler.dense,
                  classifier.out_proj → classifier), dropout off
  roberta-family.json
                  TEXTS, the generator's versions

    python data-scripts/make_roberta_fixtures.py
"""
import json
import os
import shutil

import torch
from safetensors.torch import save_file

from convert_checkpoint import canonical_name
from transformers import (RobertaConfig, RobertaForSequenceClassification, RobertaTokenizerFast, XLMRobertaConfig,
                          XLMRobertaForSequenceClassification, XLMRobertaTokenizer)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "Tests", "TransformerTests", "Fixtures")
TOKENIZER_FIXTURES = os.path.join(ROOT, "Tests", "TokenizersTests", "Fixtures")

# Pairs and single segments of different lengths, so the batch is padded (RoBERTa's positions skip padding).
TEXTS = [
    ["a charming and often affecting journey", None],
    ["What is the capital of France?", "Paris is the capital and largest city of France."],
    ["unflinchingly bleak", None],
    ["Héllo wörld 😀, ça va?", "  two  spaces and CJK 中文"],
]
LABELS = [0, 2, 1, 2]


def canonical(name):
    """The suite's canonical name of a RobertaForSequenceClassification parameter (as the converter writes it)."""
    return canonical_name(name, "roberta")


def randomise(model, seed):
    """Larger-than-default weights so every nonlinearity is exercised away from its linear regime."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name:
                p.copy_(1 + 0.2 * torch.randn_like(p)) if name.endswith("weight") else p.copy_(0.1 * torch.randn_like(p))
            else:
                p.copy_(0.15 * torch.randn_like(p))


def write(tag, config_class, model_class, tokenizer, vocab_size, classes, seed):
    config = config_class(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                          intermediate_size=64, max_position_embeddings=66, type_vocab_size=1, pad_token_id=1,
                          bos_token_id=0, eos_token_id=2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                          classifier_dropout=None, num_labels=classes, layer_norm_eps=1e-5, hidden_act="gelu")
    model = model_class(config)
    randomise(model, seed)
    folder = os.path.join(OUT, f"tiny-{tag}")
    os.makedirs(folder, exist_ok=True)
    model.save_pretrained(folder)
    a = [t[0] for t in TEXTS]
    b = [t[1] for t in TEXTS]
    # The tokenizer handles pairs and singles in one call only when every element is a pair: encode one at a time.
    encoded = [tokenizer(x, y) if y is not None else tokenizer(x) for x, y in zip(a, b)]
    longest = max(len(e["input_ids"]) for e in encoded)
    ids = torch.full((len(TEXTS), longest), config.pad_token_id, dtype=torch.long)
    mask = torch.zeros(len(TEXTS), longest, dtype=torch.long)
    for i, e in enumerate(encoded):
        ids[i, :len(e["input_ids"])] = torch.tensor(e["input_ids"])
        mask[i, :len(e["input_ids"])] = 1
    labels = torch.tensor([label % classes for label in LABELS])
    model.train()  # every dropout probability is 0, so train mode is deterministic
    out = model(input_ids=ids, attention_mask=mask, labels=labels)
    out.loss.backward()
    step = {"input_ids": ids.to(torch.int32), "attention_mask": mask.to(torch.float32), "labels": labels.to(torch.int32),
            "logits": out.logits.detach(), "loss": out.loss.detach().reshape(1)}
    for name, p in model.named_parameters():
        step["grad." + canonical(name)] = p.grad.detach().clone()
    save_file(step, os.path.join(OUT, f"tiny-{tag}-step.safetensors"))
    return folder


def main():
    with open(os.path.join(TOKENIZER_FIXTURES, "bpe", "vocab.json")) as f:
        vocab = json.load(f)
    with open(os.path.join(TOKENIZER_FIXTURES, "bpe", "merges.txt")) as f:
        merges = [tuple(line.split()) for line in f.read().splitlines()[1:] if line and not line.startswith("#")]
    bpe = RobertaTokenizerFast(vocab=vocab, merges=merges)
    folder = write("roberta", RobertaConfig, RobertaForSequenceClassification, bpe, len(vocab), 3, 4321)
    for name in ["vocab.json", "merges.txt"]:
        shutil.copy(os.path.join(TOKENIZER_FIXTURES, "bpe", name), os.path.join(folder, name))

    xlmr_folder = os.path.join(OUT, "tiny-xlmr")
    os.makedirs(xlmr_folder, exist_ok=True)
    shutil.copy(os.path.join(TOKENIZER_FIXTURES, "sst2-unigram.model"), os.path.join(xlmr_folder, "sentencepiece.bpe.model"))
    sentencepiece = XLMRobertaTokenizer.from_pretrained(xlmr_folder)
    write("xlmr", XLMRobertaConfig, XLMRobertaForSequenceClassification, sentencepiece, len(sentencepiece), 2, 8765)
    for leftover in ["tokenizer_config.json", "special_tokens_map.json"]:
        path = os.path.join(xlmr_folder, leftover)
        if os.path.exists(path):
            os.remove(path)

    import transformers
    with open(os.path.join(OUT, "roberta-family.json"), "w") as f:
        json.dump({"generator": f"transformers {transformers.__version__}, torch {torch.__version__}", "texts": TEXTS,
                   "labels": LABELS}, f, indent=1, ensure_ascii=False)
    print("wrote", sorted(os.listdir(OUT)))


if __name__ == "__main__":
    main()
