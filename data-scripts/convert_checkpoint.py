#!/usr/bin/env python3
"""Converts a Hugging Face BERT, RoBERTa or XLM-R folder into the suite's checkpoint folder (DESIGN.md contract).

Output folder: config.json (HF BERT fields + a `tokenizer` block), model.safetensors.zst (canonical tensor
names, F32), the vocabulary file, manifest.json {source, sha256 of the decompressed safetensors, converter}.
Only the Python standard library and the `zstd` command-line tool (Debian package zstd) are used.

    convert_checkpoint.py SOURCE_DIR OUT_DIR --source TEXT
    convert_checkpoint.py --verify OUT_DIR          # exit 0 when the folder matches its manifest
"""
import argparse
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

CONVERTER_VERSION = "1"
FLOAT_TYPES = {"F32": 4, "F16": 2, "BF16": 2}


ROBERTA_FAMILY = ("roberta", "xlm-roberta")


def canonical_name(name, model_type="bert"):
    """HF BertModel / BertFor* names without the `bert.` prefix; legacy gamma/beta become weight/bias.

    RoBERTa and XLM-R (as Sources/Transformer/Checkpoint.swift reads them): the `roberta.` prefix goes; fairseq's
    classification head (classifier.dense, classifier.out_proj) becomes pooler.dense and classifier; Hugging Face's
    pooler (roberta.pooler, never trained by fairseq) and the masked-LM head are dropped (None)."""
    if model_type in ROBERTA_FAMILY:
        if name.startswith("roberta.pooler.") or name.startswith("lm_head."):
            return None
        if name.startswith("roberta."):
            name = name[len("roberta."):]
        if name.startswith("classifier.dense."):
            name = "pooler.dense." + name[len("classifier.dense."):]
        elif name.startswith("classifier.out_proj."):
            name = "classifier." + name[len("classifier.out_proj."):]
    elif name.startswith("bert."):
        name = name[len("bert."):]
    if name.endswith(".gamma"):
        name = name[: -len(".gamma")] + ".weight"
    elif name.endswith(".beta"):
        name = name[: -len(".beta")] + ".bias"
    return name


def read_safetensors(path):
    with open(path, "rb") as f:
        (header_size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(header_size))
        base = 8 + header_size
        tensors = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            begin, end = info["data_offsets"]
            f.seek(base + begin)
            tensors[name] = (info["dtype"], info["shape"], f.read(end - begin))
    return tensors


def to_f32(dtype, raw):
    if dtype == "F32":
        return raw
    count = len(raw) // 2
    out = bytearray(count * 4)
    if dtype == "BF16":
        for i in range(count):
            out[4 * i + 2: 4 * i + 4] = raw[2 * i: 2 * i + 2]
        return bytes(out)
    values = struct.unpack(f"<{count}e", raw)
    return struct.pack(f"<{count}f", *values)


def write_safetensors(tensors, path):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        shape, raw = tensors[name]
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    header["__metadata__"] = {"format": "pt"}
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * ((8 - len(encoded) % 8) % 8)
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        for chunk in [struct.pack("<Q", len(encoded)), encoded] + blobs:
            f.write(chunk)
            digest.update(chunk)
    return digest.hexdigest()


def tokenizer_block(source_dir):
    config_path = os.path.join(source_dir, "tokenizer_config.json")
    tokenizer_config = {}
    if os.path.exists(config_path):
        with open(config_path) as f:
            tokenizer_config = json.load(f)
    specials = {key: tokenizer_config.get(key, default) for key, default in
                [("cls_token", "[CLS]"), ("sep_token", "[SEP]"), ("pad_token", "[PAD]"),
                 ("unk_token", "[UNK]"), ("mask_token", "[MASK]")]}
    specials = {k: (v["content"] if isinstance(v, dict) else v) for k, v in specials.items()}
    if os.path.exists(os.path.join(source_dir, "sentencepiece.bpe.model")):
        # XLM-R: SentencePiece pieces in fairseq's id order (<s> 0, <pad> 1, </s> 2, <unk> 3, pieces shifted by one).
        return {"type": "sentencepiece-fairseq", "file": "sentencepiece.bpe.model"}
    if os.path.exists(os.path.join(source_dir, "vocab.json")) and os.path.exists(os.path.join(source_dir, "merges.txt")):
        # RoBERTa / GPT-2 byte-level BPE.
        return {"type": "bpe", "file": "vocab.json", "merges": "merges.txt"}
    if os.path.exists(os.path.join(source_dir, "vocab.txt")):
        return {"type": "wordpiece", "file": "vocab.txt",
                "do_lower_case": bool(tokenizer_config.get("do_lower_case", True)),
                "special_tokens": specials}
    models = [f for f in os.listdir(source_dir) if f.endswith(".model")]
    if len(models) == 1:
        return {"type": "sentencepiece", "file": models[0],
                "do_lower_case": bool(tokenizer_config.get("do_lower_case", False)),
                "special_tokens": specials}
    sys.exit(f"convert_checkpoint: {source_dir}: no tokenizer (expected vocab.txt, vocab.json + merges.txt, "
             "sentencepiece.bpe.model or exactly one .model file)")


def pooler_trained(source_dir, source, tensors, model_type="bert"):
    """False for sentence-transformers checkpoints (trained with mean pooling: their pooler never saw a gradient, its
    bias is exactly zero); the suite refuses a head on an untrained pooler. RoBERTa family: true only when the folder
    holds a fine-tuned fairseq head (classifier.dense, kept as pooler.dense)."""
    if model_type in ROBERTA_FAMILY:
        return "pooler.dense.weight" in tensors
    markers = ["modules.json", "sentence_bert_config.json", "1_Pooling"]
    if any(os.path.exists(os.path.join(source_dir, m)) for m in markers) or "sentence-transformers/" in source:
        return False
    bias = tensors.get("pooler.dense.bias")
    return not (bias is not None and not any(bias[1]))


def convert(source_dir, out_dir, source):
    weights = os.path.join(source_dir, "model.safetensors")
    if not os.path.exists(weights):
        sys.exit(f"convert_checkpoint: {weights}: missing (only safetensors checkpoints are converted)")
    with open(os.path.join(source_dir, "config.json")) as f:
        config = json.load(f)
    model_type = config.get("model_type", "bert")
    tensors = {}
    for name, (dtype, shape, raw) in read_safetensors(weights).items():
        if dtype not in FLOAT_TYPES:
            continue  # integer buffers such as embeddings.position_ids
        canonical = canonical_name(name, model_type)
        if canonical is not None:
            tensors[canonical] = (shape, to_f32(dtype, raw))
    config["tokenizer"] = tokenizer_block(source_dir)
    config["pooler_trained"] = pooler_trained(source_dir, source, tensors, model_type)

    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(dir=parent, prefix=".convert-")
    os.chmod(staging, 0o755)
    try:
        raw_path = os.path.join(staging, "model.safetensors")
        sha256 = write_safetensors(tensors, raw_path)
        subprocess.run(["zstd", "-q", "-19", "-T0", "--rm", raw_path, "-o", raw_path + ".zst"], check=True)
        for key in ["file", "merges"]:
            if key in config["tokenizer"]:
                shutil.copy(os.path.join(source_dir, config["tokenizer"][key]), staging)
        with open(os.path.join(staging, "config.json"), "w") as f:
            json.dump(config, f, indent=2, sort_keys=True)
        with open(os.path.join(staging, "manifest.json"), "w") as f:
            json.dump({"source": source, "sha256": sha256, "converter": CONVERTER_VERSION}, f, indent=2)
        if os.path.exists(out_dir):
            shutil.rmtree(out_dir)
        os.rename(staging, out_dir)  # the folder appears whole or not at all
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    print(f"convert_checkpoint: wrote {out_dir} ({len(tensors)} tensors, sha256 {sha256[:12]}…)")


def verify(out_dir):
    try:
        with open(os.path.join(out_dir, "manifest.json")) as f:
            manifest = json.load(f)
        data = subprocess.run(["zstd", "-dc", os.path.join(out_dir, "model.safetensors.zst")],
                              check=True, capture_output=True).stdout
    except (OSError, ValueError, subprocess.CalledProcessError):
        return False
    return hashlib.sha256(data).hexdigest() == manifest.get("sha256") and manifest.get("converter") == CONVERTER_VERSION


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--source", default="unknown")
    parser.add_argument("--verify", action="store_true")
    args = parser.parse_args()
    if args.verify:
        sys.exit(0 if verify(args.paths[0]) else 1)
    if len(args.paths) != 2:
        parser.error("SOURCE_DIR and OUT_DIR are required")
    convert(args.paths[0], args.paths[1], args.source)


if __name__ == "__main__":
    main()
