#!/usr/bin/env python3
"""Trains the small SentencePiece model the tests use and records `spm_encode`'s output for it.

Uses only the Debian `sentencepiece` tools (spm_train, spm_encode) and SST-2 train from the GLUE folder.
Output in Tests/TokenizersTests/Fixtures/: sst2-unigram.model and sentencepiece.json
({"cases": [{"text", "ids", "pieces"}]}).

    python3 data-scripts/make_sentencepiece_fixture.py [--glue ../shared/glue]
"""
import argparse
import json
import os
import subprocess
import tempfile

TEXTS = [
    "Hello, world!",
    "the movie was n't bad at all .",
    "Café crème brûlée à la carte",
    "ＦＵＬＬＷＩＤＴＨ letters and ｶﾀｶﾅ",
    "中文字符测试 and emoji 😀🎉",
    "numbers 3.14159, 1,000,000 and 42nd",
    "pneumonoultramicroscopicsilicovolcanoconiosis",
    "  extra   spaces  ",
    "it's \"quoted\" and 'single' — dashes",
    "a gripping , funny and thoroughly entertaining film",
    "UPPER lower MiXeD",
    "x",
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--glue", default="../shared/glue")
    parser.add_argument("--out", default="Tests/TokenizersTests/Fixtures")
    args = parser.parse_args()
    with open(os.path.join(args.glue, "SST-2/train.tsv"), encoding="utf-8") as f:
        sentences = [line.split("\t")[0] for line in f.read().split("\n")[1:20001] if line]
    with tempfile.TemporaryDirectory() as work:
        corpus = os.path.join(work, "corpus.txt")
        with open(corpus, "w", encoding="utf-8") as f:
            f.write("\n".join(sentences) + "\n")
        prefix = os.path.join(args.out, "sst2-unigram")
        subprocess.run(["spm_train", f"--input={corpus}", f"--model_prefix={prefix}", "--vocab_size=800",
                        "--model_type=unigram", "--character_coverage=1.0", "--seed_sentencepiece_size=20000",
                        "--num_threads=1", "--minloglevel=2"], check=True)
        os.remove(prefix + ".vocab")

    def encode(fmt):
        result = subprocess.run(["spm_encode", f"--model={prefix}.model", f"--output_format={fmt}"],
                                input="\n".join(TEXTS) + "\n", capture_output=True, text=True, check=True)
        return result.stdout.split("\n")[: len(TEXTS)]

    ids, pieces = encode("id"), encode("piece")
    cases = [{"text": t, "ids": [int(x) for x in i.split()], "pieces": p.split(" ") if p else []}
             for t, i, p in zip(TEXTS, ids, pieces)]
    with open(os.path.join(args.out, "sentencepiece.json"), "w", encoding="utf-8") as f:
        json.dump({"generator": "spm_encode (Debian sentencepiece)", "model": "sst2-unigram.model", "cases": cases},
                  f, ensure_ascii=False, indent=1)
    print(f"wrote {prefix}.model and sentencepiece.json ({len(cases)} cases)")


if __name__ == "__main__":
    main()
