#!/usr/bin/env python3
"""Writes the WordPiece reference fixtures from Hugging Face's BertTokenizerFast.

Needs `transformers` (a virtual environment outside the repository) and the converted default model
(`make model`). Output: Tests/TokenizersTests/Fixtures/wordpiece.json with the ids of varied inputs, and the
SHA-256 of the token ids of all of SST-2 dev and MNLI dev_matched (pairs, max length 128), in the format
`token_id_digest` documents below.

    python data-scripts/make_tokenizer_fixtures.py [--model models/all-MiniLM-L6-v2] [--glue ../shared/glue]
"""
import argparse
import hashlib
import json
import os

from transformers import BertTokenizerFast

CASES = [
    ("Hello, world!", None, None),
    ("HELLO World", None, None),
    ("the movie was n't bad at all .", None, None),
    ("Café crème brûlée à la carte", None, None),
    ("Ångström naïve résumé façade", None, None),
    ("中文字符测试", None, None),
    ("日本語のテキストと漢字", None, None),
    ("한국어 텍스트", None, None),
    ("emoji 😀🎉 and symbols ☃ ♥", None, None),
    ("numbers 3.14159, 1,000,000 and 42nd", None, None),
    ("pneumonoultramicroscopicsilicovolcanoconiosis", None, None),
    ("a" * 101, None, None),
    ("a" * 100, None, None),
    ("  extra   whitespace\tand\ttabs\nnewlines  ", None, None),
    ("", None, None),
    ("   ", None, None),
    ("control\u0000chars\u200bzero\u00adwidth\ufffdreplacement", None, None),
    ("it's \"quoted\" and 'single' — dashes – and … ellipsis", None, None),
    ("URL https://example.com/path?q=1&r=2 #tag @user", None, None),
    ("special [SEP] tokens [CLS] inside [MASK] text [UNK]", None, None),
    ("lowercase [sep] is not special", None, None),
    ("Ελληνικά και Русский текст", None, None),
    ("עברית ועربي", None, None),
    ("hyphen-ated co-operation e-mail", None, None),
    ("$100 £50 €20 ¥1000 50% 3+4=7 <html>", None, None),
    ("What is the capital of France?", "Paris is the capital and largest city of France.", None),
    ("Is this a duplicate question?", "Is this question a duplicate?", None),
    ("The cat sat on the mat.", "   ", None),
    ("", "Only the second segment.", None),
    ("word " * 80, "other " * 80, 128),
    ("short premise", "a much longer hypothesis " * 20, 32),
    ("a much longer premise " * 20, "short hypothesis", 32),
    ("equal length one two three four five", "equal length six seven eight nine ten", 10),
    ("single segment " * 100, None, 16),
    ("tiny", "pair", 5),
    ("MiXeD CaSe WoRdS", "ÀÉÎÕÜ", 64),
    ("\u3000ideographic\u3000space\u00a0nbsp\u2028line separator", None, None),
    ("tab\u0085next line\u000bvertical\u000cfeed", None, None),
]


def read_tsv(path, columns):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    header = lines[0].split("\t")
    index = [header.index(c) for c in columns]
    return [[fields[i] for i in index] for fields in (line.split("\t") for line in lines[1:] if line)]


def token_id_digest(encodings):
    """SHA-256 of one line per example: input ids, '|', token type ids (comma-separated decimals), then '\\n'."""
    digest = hashlib.sha256()
    for ids, types in encodings:
        digest.update((",".join(map(str, ids)) + "|" + ",".join(map(str, types)) + "\n").encode())
    return digest.hexdigest()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="models/all-MiniLM-L6-v2")
    parser.add_argument("--glue", default="../shared/glue")
    parser.add_argument("--out", default="Tests/TokenizersTests/Fixtures/wordpiece.json")
    args = parser.parse_args()
    tokenizer = BertTokenizerFast.from_pretrained(args.model, do_lower_case=True)
    assert tokenizer("Hello")["input_ids"] == [101, 7592, 102], "vocabulary not loaded"

    cases = []
    for a, b, max_length in CASES:
        kwargs = {"truncation": "longest_first", "max_length": max_length} if max_length else {}
        encoding = tokenizer(a, b, **kwargs) if b is not None else tokenizer(a, **kwargs)
        cases.append({"a": a, "b": b, "max_length": max_length,
                      "input_ids": encoding["input_ids"], "token_type_ids": encoding["token_type_ids"]})

    digests = {}
    for name, path, columns in [
        ("sst2_dev", "SST-2/dev.tsv", ["sentence"]),
        ("mnli_dev_matched", "MNLI/dev_matched.tsv", ["sentence1", "sentence2"]),
    ]:
        rows = read_tsv(os.path.join(args.glue, path), columns)
        encodings = []
        for row in rows:
            e = tokenizer(*row, truncation="longest_first", max_length=128)
            encodings.append((e["input_ids"], e["token_type_ids"]))
        digests[name] = {"file": path, "rows": len(rows), "max_length": 128, "sha256": token_id_digest(encodings)}

    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"generator": "transformers BertTokenizerFast", "cases": cases, "digests": digests},
                  f, ensure_ascii=False, indent=1)
    print(f"wrote {args.out}: {len(cases)} cases, digests {list(digests)}")


if __name__ == "__main__":
    main()
