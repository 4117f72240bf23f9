"""Tagging: a short caption (BLIP) or zero-shot tags over an editable vocabulary (CLIP) for pictures,
and zero-shot tags for sounds (CLAP).

Nothing here is published: the library (studio/library_tagging.py) runs this task after an output
is published, as low-priority work, and stores the results in its search index; they never enter a
signed file. Which of the three a preset does follows from the saved model's own config (`model_type`
"blip", "clip" or "clap"), so a preset is one model, as everywhere in the model layer. All load with
transformers' own classes (BlipForConditionalGeneration, CLIPModel, ClapModel): no remote code.

The vocabulary is data: presets/tagging_vocabulary.txt, one tag per line, or a request's own list
(at most MAX_VOCABULARY words). CLIP scores "a photo of <tag>" against each picture; the text side
of a vocabulary is encoded once per loaded model and kept (a few vocabularies at most). CLAP does the
same for sounds with "the sound of <tag>" over presets/tagging_sounds.txt, on the first MAX_SOUND_S
seconds of each, resampled to the model's own rate (48 kHz for LAION's CLAP).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from pipelines.contract import Task
from pipelines.errors import InputError
from pipelines.media import Result
from pipelines.presets import PRESETS_DIR, ModelPreset
from pipelines.progress import Progress

TASK = "tagging"
MAX_VOCABULARY = 10_000
MAX_TAG_CHARS = 60
MAX_IMAGES = 16
VOCABULARY_FILE = PRESETS_DIR / "tagging_vocabulary.txt"
SOUND_VOCABULARY_FILE = PRESETS_DIR / "tagging_sounds.txt"
TEMPLATE = "a photo of {}"
SOUND_TEMPLATE = "the sound of {}"
FAMILIES = ("blip", "clip", "clap")
MAX_SOUND_S = 10.0         # CLAP's window: longer sounds are tagged by their start (never a random crop)


@dataclass
class Request:
    """Pictures to describe (decoded RGB images). A BLIP preset captions them; a CLIP preset tags them
    with the `top_k` best words of `vocabulary` (empty: the studio's vocabulary file). A CLAP preset tags
    `sounds` instead: (mono float waveform, sample rate) pairs, with the sound vocabulary file."""

    images: list[Image.Image] = field(default_factory=list, repr=False)
    sounds: list[tuple[Any, int]] = field(default_factory=list, repr=False)
    model: str = "tiny-blip"
    vocabulary: list[str] = field(default_factory=list, repr=False)
    top_k: int = 5
    max_words: int = 20

    def check(self, preset: ModelPreset) -> None:
        """Raise `InputError` for anything these models cannot take; each message says what to do."""
        if preset.family not in FAMILIES:
            raise InputError(f"Preset {preset.name} is a {preset.family} model; tagging uses {', '.join(FAMILIES)}.")
        if preset.family == "clap":
            self.sounds = [_check_sound(s) for s in _counted(self.sounds, "sounds")]
        elif any(not isinstance(image, Image.Image) for image in _counted(self.images, "pictures")):
            raise InputError("Only pictures can be tagged here.")
        for name, value, hi in (("Top tags", self.top_k, 50), ("Caption words", self.max_words, 60)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= hi:
                raise InputError(f"{name} {value!r} is out of range: use 1 to {hi}.")
        if preset.family == "clip":
            self.vocabulary = clean_vocabulary(self.vocabulary or default_vocabulary())
        elif preset.family == "clap":
            self.vocabulary = clean_vocabulary(self.vocabulary or default_vocabulary(SOUND_VOCABULARY_FILE))


def _counted(things: list, what: str) -> list:
    if not isinstance(things, list) or not 1 <= len(things) <= MAX_IMAGES:
        count = len(things) if isinstance(things, list) else 0
        raise InputError(f"Give 1 to {MAX_IMAGES} {what} to tag (got {count}).")
    return things


def _check_sound(sound) -> tuple[Any, int]:
    """A (mono float32 waveform, sample rate) pair, cut to its first MAX_SOUND_S seconds."""
    import numpy as np

    if not isinstance(sound, tuple) or len(sound) != 2 or isinstance(sound[1], bool) or not isinstance(sound[1], int):
        raise InputError("A sound to tag is a (waveform, sample rate) pair.")
    wave, rate = np.asarray(sound[0], dtype=np.float32), sound[1]
    if wave.ndim != 1 or not 8000 <= rate <= 192_000 or wave.size < rate // 10:
        raise InputError(f"A sound to tag must be mono, 8-192 kHz and at least 0.1 s long (got {wave.shape}, "
                         f"{rate} Hz).")
    if not np.isfinite(wave).all():
        raise InputError("The sound has samples that are not numbers; it cannot be tagged.")
    return wave[: int(MAX_SOUND_S * rate)], rate


def clean_vocabulary(words: list[str]) -> list[str]:
    """A vocabulary as the tagger uses it: stripped, without blanks and repeats, within the limits."""
    if not isinstance(words, (list, tuple)):
        raise InputError("The tag vocabulary must be a list of words.")
    if len(words) > MAX_VOCABULARY:
        raise InputError(f"The tag vocabulary has {len(words):,} words; the limit is {MAX_VOCABULARY:,}. "
                         f"Keep the words you want to find things by.")
    out = list(dict.fromkeys(w.strip() for w in words if isinstance(w, str) and w.strip()))
    long = next((w for w in out if len(w) > MAX_TAG_CHARS), None)
    if long is not None:
        raise InputError(f"The tag {long[:40]!r}… is {len(long)} characters; a tag holds at most {MAX_TAG_CHARS}.")
    if not out:
        raise InputError("The tag vocabulary is empty: list one tag per line.")
    return out


def default_vocabulary(path: Path = VOCABULARY_FILE) -> list[str]:
    """The studio's vocabulary file: one tag per line; # starts a comment."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


@dataclass
class Tags(Result):
    """What `run` returns: no artifacts; a caption or (tag, score) pairs per picture, in order. A CLIP
    preset also gives each picture's unit-length image embedding (the library's "more like this")."""

    captions: list[str] = field(default_factory=list)
    tags: list[list[tuple[str, float]]] = field(default_factory=list)
    embeddings: list[list[float]] = field(default_factory=list)


class Captioner:
    """BLIP: a caption per picture, greedy (the same picture gives the same caption)."""

    def __init__(self, model, processor):
        self.model, self.processor = model, processor

    def run(self, request: Request, progress: Progress) -> Tags:
        import torch

        captions = []
        for i, image in enumerate(request.images):
            progress.update(i, len(request.images), "captioning")
            inputs = self.processor(images=image.convert("RGB"), return_tensors="pt").to(self.model.device)
            with torch.inference_mode():
                out = self.model.generate(pixel_values=inputs["pixel_values"].to(self.model.dtype),
                                          max_new_tokens=request.max_words, do_sample=False, num_beams=1)
            captions.append(" ".join(self.processor.decode(out[0], skip_special_tokens=True).split()))
        progress.update(len(request.images), len(request.images), "captioning")
        return Tags(artifacts=[], captions=captions)


class ZeroShotTagger:
    """CLIP: each picture against every tag of the vocabulary; the best `top_k` with their probability."""

    template = TEMPLATE

    def __init__(self, model, processor):
        self.model, self.processor = model, processor
        self._texts: OrderedDict[tuple[str, ...], Any] = OrderedDict()   # vocabulary -> normalised embeddings
        self._lock = threading.Lock()

    def _text_embeddings(self, vocabulary: list[str]):
        import torch

        key = tuple(vocabulary)
        with self._lock:
            if key in self._texts:
                self._texts.move_to_end(key)
                return self._texts[key]
        chunks = []
        for start in range(0, len(vocabulary), 256):
            batch = [self.template.format(w) for w in vocabulary[start:start + 256]]
            tokens = self.processor.tokenizer(batch, padding=True, truncation=True, return_tensors="pt")
            with torch.inference_mode():
                chunks.append(self.model.get_text_features(**tokens.to(self.model.device)).pooler_output)
        embeddings = torch.nn.functional.normalize(torch.cat(chunks).float(), dim=-1)
        with self._lock:
            self._texts[key] = embeddings
            while len(self._texts) > 3:   # a few vocabularies: an operator's, and a test's
                self._texts.popitem(last=False)
        return embeddings

    def _media_embeddings(self, request: Request):
        """The pictures' projected embeddings (one row each) and the model's logit scale for them."""
        import torch

        pixels = self.processor.image_processor([im.convert("RGB") for im in request.images], return_tensors="pt")
        with torch.inference_mode():
            images = self.model.get_image_features(
                pixel_values=pixels["pixel_values"].to(self.model.device, self.model.dtype)).pooler_output
        return images, self.model.logit_scale

    def run(self, request: Request, progress: Progress) -> Tags:
        import torch

        texts = self._text_embeddings(request.vocabulary)
        media, logit_scale = self._media_embeddings(request)
        media = torch.nn.functional.normalize(media.float(), dim=-1)
        probs = (logit_scale.exp().float() * media @ texts.T).softmax(dim=-1)
        k = min(request.top_k, len(request.vocabulary))
        top = probs.topk(k, dim=-1)
        tags = [[(request.vocabulary[j], round(float(p), 4)) for p, j in zip(ps.tolist(), js.tolist())]
                for ps, js in zip(top.values, top.indices)]
        progress.update(len(media), len(media), "tagging")
        return Tags(artifacts=[], tags=tags, embeddings=media.cpu().tolist())


class SoundTagger(ZeroShotTagger):
    """CLAP: each sound against every tag of the sound vocabulary, as CLIP does for pictures; only the
    sound side differs (resampled to the model's rate, log-mel features, the audio logit scale)."""

    template = SOUND_TEMPLATE

    def _media_embeddings(self, request: Request):
        import torch
        import torchaudio

        extractor = self.processor.feature_extractor
        rate = extractor.sampling_rate
        waves = [torchaudio.functional.resample(torch.from_numpy(w), r, rate).numpy() if r != rate else w
                 for w, r in request.sounds]
        # "repeatpad" fills a short sound to the window; none is longer (Request.check cut them).
        features = extractor(waves, sampling_rate=rate, return_tensors="pt")
        with torch.inference_mode():
            sounds = self.model.get_audio_features(
                input_features=features["input_features"].to(self.model.device, self.model.dtype),
                is_longer=features.get("is_longer")).pooler_output
        return sounds, self.model.logit_scale_a


def load(source: str, device: str, dtype, runtime, **kwargs) -> tuple[Any, list[str]]:
    """Load a BLIP captioner or a CLIP tagger (as the saved config says) and its processor."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(source, **_hub_options(kwargs))
    if config.model_type == "blip":
        from transformers import BlipForConditionalGeneration as Model, BlipProcessor as Processor
        kind = Captioner
    elif config.model_type == "clip":
        from transformers import CLIPModel as Model, CLIPProcessor as Processor
        kind = ZeroShotTagger
    elif config.model_type == "clap":
        from transformers import ClapModel as Model, ClapProcessor as Processor
        kind = SoundTagger
    else:
        raise InputError(f"{source} is a {config.model_type} model; tagging loads BLIP, CLIP or CLAP models.")
    model = Model.from_pretrained(source, dtype=dtype, **kwargs).to(device).eval()
    return kind(model, Processor.from_pretrained(source, **_hub_options(kwargs))), []


def run(pipe: Captioner | ZeroShotTagger, request: Request, progress: Progress) -> Tags:
    """Caption or tag the request's pictures (or sounds) with the loaded model."""
    return pipe.run(request, progress)


def _hub_options(kwargs: dict) -> dict:
    return {k: v for k, v in kwargs.items() if k in ("revision", "local_files_only", "cache_dir", "token")}


# ---- tiny twins: the published classes and file layout, random weights, 32 px pictures --------------

_TINY_WORDS = ("a the of on in with and at photo picture image red green blue white black small large "
               "fox cat dog bird owl tree snow sky sea city street house car man woman person sitting").split()


def build_tiny_blip(dest: Path) -> None:
    """BlipForConditionalGeneration at 2 layers of 32 wide on 32 px pictures, with BLIP's processor and a
    BERT WordPiece tokenizer laid out as Salesforce's ([PAD] 0, [CLS], [SEP] as end, [DEC] as start)."""
    from transformers import BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipImageProcessor, BlipProcessor

    letters = "abcdefghijklmnopqrstuvwxyz"
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *letters, *(f"##{c}" for c in letters), *_TINY_WORDS,
              "[DEC]"]
    tokenizer = BertTokenizer(vocab={t: i for i, t in enumerate(tokens)}, do_lower_case=True, bos_token="[DEC]",
                              model_max_length=512)
    small = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)
    config = BlipConfig(
        text_config=dict(vocab_size=len(tokens), encoder_hidden_size=32, max_position_embeddings=64,
                         bos_token_id=len(tokens) - 1, sep_token_id=3, eos_token_id=3, pad_token_id=0, **small),
        vision_config=dict(image_size=32, patch_size=8, **small), projection_dim=32)
    BlipForConditionalGeneration(config).save_pretrained(dest)
    BlipProcessor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}),
                  tokenizer=tokenizer).save_pretrained(dest)


def build_tiny_clip(dest: Path) -> None:
    """CLIPModel at 2 layers of 32 wide on 32 px pictures with CLIP's real BPE tokenizer (its 49,408 ids),
    so a tag is cut and counted as the published model does."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    from pipelines.tiny.tokenizers import CLIP_VOCAB_SIZE, clip_tokenizer

    small = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)
    config = CLIPConfig(text_config=dict(vocab_size=CLIP_VOCAB_SIZE, max_position_embeddings=77, bos_token_id=49406,
                                         eos_token_id=49407, pad_token_id=49407, **small),
                        vision_config=dict(image_size=32, patch_size=8, **small), projection_dim=16)
    CLIPModel(config).save_pretrained(dest)
    CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
                  tokenizer=clip_tokenizer()).save_pretrained(dest)


def build_tiny_clap(dest: Path) -> None:
    """ClapModel (HTSAT audio tower, RoBERTa text tower) at 1-2 layers of 16-32 wide, with the feature
    extractor of laion/clap-htsat-unfused as published (48 kHz, 64 mel bins, hop 480, 10 s window, repeat
    padding; the 256-wide spectrogram "image" HTSAT reshapes to) and a byte-level RoBERTa tokenizer."""
    from transformers import ClapAudioConfig, ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor, ClapTextConfig

    from pipelines.tiny.tokenizers import roberta_tokenizer

    tokenizer = roberta_tokenizer()
    text = ClapTextConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_attention_heads=4,
                          num_hidden_layers=2, max_position_embeddings=80, bos_token_id=0, eos_token_id=2,
                          pad_token_id=1, projection_dim=16)
    audio = ClapAudioConfig(spec_size=256, num_mel_bins=64, window_size=8, patch_size=4, patch_stride=4, depths=[1, 1],
                            num_attention_heads=[2, 4], patch_embeds_hidden_size=16, hidden_size=32,
                            intermediate_size=37, projection_dim=16, enable_fusion=False)
    config = ClapConfig(text_config=text.to_dict(), audio_config=audio.to_dict(), projection_dim=16)
    ClapModel(config).save_pretrained(dest)
    extractor = ClapFeatureExtractor(feature_size=64, sampling_rate=48_000, hop_length=480, max_length_s=10,
                                     fft_window_size=1024, truncation="rand_trunc", padding="repeatpad",
                                     return_attention_mask=False)
    ClapProcessor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(dest)


CONTRACT = Task(TASK, Request, artifacts=("report",), text_field=None, concurrent_requests=1)
