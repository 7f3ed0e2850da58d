#!/usr/bin/env python3
"""Writes the XLM-R id-mapping fixture (issue 15): Hugging Face's XLMRobertaTokenizer on the project's SentencePiece
fixture model (Tests/TokenizersTests/Fixtures/sst2-unigram.model, made by make_sentencepiece_fixture.py) as an XLM-R
`sentencepiece.bpe.model`, for the same inputs as the WordPiece and BPE fixtures. XLM-R's ids are fairseq's: <s> 0,
<pad> 1, </s> 2, <unk> 3, every SentencePiece id shifted by one, <mask> last.

Needs `transformers`, `sentencepiece` and `protobuf` (a virtual environment outside the repository). Output:
Tests/TokenizersTests/Fixtures/xlmr.json.
"""
import json
import os
import shutil
import tempfile

from transformers import XLMRobertaTokenizer

from make_bpe_fixture import EXTRA
from make_tokenizer_fixtures import CASES


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "TokenizersTests", "Fixtures")
    with tempfile.TemporaryDirectory() as folder:
        shutil.copy(os.path.join(root, "sst2-unigram.model"), os.path.join(folder, "sentencepiece.bpe.model"))
        tokenizer = XLMRobertaTokenizer.from_pretrained(folder)
        cases = []
        for a, b, max_length in CASES + EXTRA:
            kwargs = {"truncation": "longest_first", "max_length": max_length} if max_length else {}
            cases.append({"a": a, "b": b, "max_length": max_length, "input_ids": tokenizer(a, b, **kwargs)["input_ids"]})
        with open(os.path.join(root, "xlmr.json"), "w") as f:
            json.dump({"generator": "transformers XLMRobertaTokenizer on sst2-unigram.model", "vocab_size": len(tokenizer),
                       "cases": cases}, f, indent=1, ensure_ascii=False)
    print(f"{len(cases)} cases, vocabulary {len(tokenizer)}")


if __name__ == "__main__":
    main()
