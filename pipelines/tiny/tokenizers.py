"""Tokenizers built in memory, with no hub: byte-level CLIP and RoBERTa, and a T5 unigram.

The vocabularies are tiny but real: the same tokenizer classes, saved and loaded the same way.
"""
from __future__ import annotations

import string


def _bytes_to_unicode() -> list[str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def clip_tokenizer(model_max_length: int = 77):
    """CLIP BPE with 256 byte characters (bare and word-final), no merges; bos 512, eos/pad 513."""
    from transformers import CLIPTokenizer

    chars = _bytes_to_unicode()
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=model_max_length)


def roberta_tokenizer(model_max_length: int = 77):
    from transformers import RobertaTokenizer

    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4}
    for c in _bytes_to_unicode():
        vocab[c] = len(vocab)
    return RobertaTokenizer(vocab=vocab, merges=[], model_max_length=model_max_length)


def t5_tokenizer(model_max_length: int = 512):
    """A unigram T5 tokenizer over printable ASCII (~190 ids; pad 0, eos 1, unk 2)."""
    from transformers import T5Tokenizer

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    chars = string.ascii_letters + string.digits + string.punctuation
    vocab += [("▁" + c, -5.0) for c in chars]
    vocab += [(c, -6.0) for c in chars]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=model_max_length)
