"""Tokenizers built with no hub: CLIP's real BPE (from the vocabulary file open_clip_torch ships), a
byte-level RoBERTa and a character-level T5 unigram.

The same tokenizer classes, saved and loaded the same way. CLIP's is the real one, so a prompt's
length is counted as SD counts it; the RoBERTa and T5 vocabularies are tiny (one token per character),
so their token counts run higher than the real models' (about 4x for English).
"""
from __future__ import annotations

import functools
import gzip
import importlib.util
import string
from pathlib import Path


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


# CLIP's own byte-pair vocabulary, as open_clip_torch's wheel ships it: 256 bytes, the same 256
# word-final, 48,894 merges, then <|startoftext|> and <|endoftext|> (49,408 ids, SD's token ids).
CLIP_VOCAB_FILE = "bpe_simple_vocab_16e6.txt.gz"
CLIP_MERGES = 49152 - 256 - 2
CLIP_VOCAB_SIZE = 49408


@functools.lru_cache(maxsize=1)
def clip_bpe() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """CLIP's vocabulary and merges, read from open_clip_torch's file (found without importing open_clip,
    which would import timm and torch's vision stack)."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("open_clip_torch is not installed: the tiny SD-family models read CLIP's "
                                  "vocabulary from it (pip install open_clip_torch)")
    path = Path(next(iter(spec.submodule_search_locations))) / CLIP_VOCAB_FILE
    lines = gzip.decompress(path.read_bytes()).decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1:CLIP_MERGES + 1]]
    chars = _bytes_to_unicode()
    tokens = chars + [c + "</w>" for c in chars] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    vocab = {token: i for i, token in enumerate(tokens)}
    if len(vocab) != CLIP_VOCAB_SIZE:
        raise ValueError(f"{path} holds {len(vocab)} CLIP tokens, not {CLIP_VOCAB_SIZE}: not CLIP's vocabulary")
    return vocab, merges


def clip_tokenizer(model_max_length: int = 77, pad_token: str = "<|endoftext|>"):
    """The real CLIP BPE tokenizer (bos 49406, eos 49407): prompts are counted and cut in SD's own tokens.

    pad_token "!" (id 0) is what SDXL's and SD3's second tokenizers use.
    """
    from transformers import CLIPTokenizer

    vocab, merges = clip_bpe()
    return CLIPTokenizer(vocab=dict(vocab), merges=list(merges), model_max_length=model_max_length,
                         pad_token=pad_token)


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
