"""Tiny Coqui TTS families: multi-speaker VITS voices (reading letters, or espeak-ng phonemes as the
published ones do) and an XTTS, all the real classes with random weights.

Each is saved in the layout of its published download, so production's folder loader reads it:
- VITS like `tts_models/en/vctk/vits`: model_file.pth, config.json, speaker_ids.json.
- XTTS like `tts-hub/XTTS-v2`: model.pth, config.json, vocab.json, speakers_xtts.pth (the
  built-in voices as conditioning latents).

XTTS's HiFi-GAN decoder and speaker encoder have fixed sizes in Coqui (not in its config), so
the tiny XTTS is small only in its GPT; it costs about as much per second of audio as the real
decoder does.
"""
from __future__ import annotations

import json
import string
from pathlib import Path

TINY_VITS_SPEAKERS = ["tiny-ada", "tiny-ben", "tiny-cleo"]
TINY_XTTS_SPEAKERS = ["Tiny Narrator", "Tiny Announcer"]
TINY_XTTS_LANGUAGES = ["en", "de"]
# Letters of the languages above, so the BPE vocabulary covers them (anything else is [UNK]).
_XTTS_ALPHABET = string.ascii_lowercase + "äöüß" + string.digits + string.punctuation


# The symbols of Coqui's published English VITS voices (tts_models/en/vctk/vits): espeak-ng's IPA
# phonemes as the model reads them, graphemes, and punctuation.
VITS_PHONEMES = ("ɑɐɒæɓʙβɔɕçɗɖðʤəɘɚɛɜɝɞɟʄɡɠɢʛɦɧħɥʜɨɪʝɭɬɫɮʟɱɯɰŋɳɲɴøɵɸθœɶʘɹɺɾɻʀʁɽʂʃʈʧʉʊʋⱱʌɣɤʍχʎʏʑʐʒʔʡʕʢǀǁǂǃ"
                 "ˈˌːˑʼʴʰʱʲʷˠˤ˞↓↑→↗↘'̩'ᵻ")
VITS_GRAPHEMES = string.ascii_uppercase + string.ascii_lowercase
VITS_PUNCTUATIONS = ";:,.!?¡¿—…\"«»“” "


def build_vits(dest: Path) -> None:
    """A 3-speaker character-input VITS at ~1.5 M parameters, saved like the VCTK download.

    It reads letters (as some of Coqui's community voices do), so the studio's check of what a
    character voice can say runs; `build_vits_phonemes` is the twin of the published English voices.
    """
    from TTS.tts.configs.shared_configs import CharactersConfig

    characters = CharactersConfig(characters_class="TTS.tts.models.vits.VitsCharacters",
                                  characters=string.ascii_lowercase, punctuations="!'\"(),-.:;? ",
                                  pad="<PAD>", eos="<EOS>", bos="<BOS>", blank="<BLNK>", phonemes=None)
    _save_vits(Path(dest), characters, use_phonemes=False)


def build_vits_phonemes(dest: Path) -> None:
    """The tiny VITS reading espeak-ng phonemes, as every published VITS preset does: the VCTK voice's
    phonemizer (espeak, en-us), cleaner and symbol set. Needs the espeak-ng program to load."""
    from TTS.tts.configs.shared_configs import CharactersConfig

    characters = CharactersConfig(characters_class="TTS.tts.models.vits.VitsCharacters",
                                  characters=VITS_GRAPHEMES, punctuations=VITS_PUNCTUATIONS, phonemes=VITS_PHONEMES,
                                  pad="_", eos="", bos="", blank=None, is_unique=False, is_sorted=True)
    _save_vits(Path(dest), characters, use_phonemes=True)


def _save_vits(dest: Path, characters, use_phonemes: bool) -> None:
    """A 3-speaker VITS at ~1.5 M parameters with these symbols, saved like the VCTK download
    (model_file.pth, config.json, speaker_ids.json).

    It uses VITS's deterministic duration predictor (use_sdp=False) where VCTK uses the stochastic one.
    """
    import math

    import torch
    from TTS.tts.configs.vits_config import VitsArgs, VitsConfig
    from TTS.tts.models.vits import Vits

    speakers_file = dest / "speaker_ids.json"
    speakers_file.write_text(json.dumps({name: i for i, name in enumerate(TINY_VITS_SPEAKERS)}, indent=1))
    args = VitsArgs(hidden_channels=32, hidden_channels_ffn_text_encoder=64, num_layers_text_encoder=2,
                    num_layers_posterior_encoder=2, num_layers_flow=2, init_discriminator=False,
                    upsample_initial_channel_decoder=64, resblock_kernel_sizes_decoder=[3],
                    resblock_dilation_sizes_decoder=[[1, 3, 5]], use_speaker_embedding=True,
                    speaker_embedding_channels=32, speakers_file=str(speakers_file), use_sdp=False)
    # english_cleaners expands numbers and abbreviations as the published English VITS voices do.
    config = VitsConfig(model_args=args, use_phonemes=use_phonemes, phonemizer="espeak" if use_phonemes else None,
                        phoneme_language="en-us" if use_phonemes else "en", text_cleaner="english_cleaners",
                        add_blank=True, characters=characters, use_speaker_embedding=True,
                        speakers_file=str(speakers_file))
    config.audio.sample_rate = 22050
    # Coqui cuts a take at its first long quiet stretch when this is on; random weights make quiet sound.
    config.audio.do_trim_silence = False
    model = Vits(config).eval()
    # Random weights give every symbol under one frame, which ceil() makes exactly one whatever
    # the speed. A trained voice holds a symbol for a few frames: start the (deterministic)
    # duration predictor there, so durations and speed behave as they do with real weights.
    with torch.no_grad():
        model.duration_predictor.proj.bias.fill_(math.log(2.0))

    torch.save({"model": model.state_dict()}, dest / "model_file.pth")
    config.save_json(str(dest / "config.json"))


def _xtts_vocab(path: Path) -> None:
    """A tiny BPE vocabulary in XTTS's vocab.json format (HF tokenizers JSON) with its special tokens."""
    from tokenizers import Tokenizer, models, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    specials = ["[STOP]", "[UNK]", "[SPACE]", "[START]"] + [f"[{lang}]" for lang in TINY_XTTS_LANGUAGES]
    trainer = trainers.BpeTrainer(vocab_size=160, special_tokens=specials, show_progress=False)
    corpus = ["hello[SPACE]world,[SPACE]this[SPACE]is[SPACE]a[SPACE]test."] * 5 + [_XTTS_ALPHABET]
    tokenizer.train_from_iterator(corpus, trainer)
    tokenizer.save(str(path))


def _reference_tone(seconds: float, pitch_hz: float, rate: int = 22050):
    """A voiced, amplitude-modulated tone: an input for the speaker encoder, not a generation."""
    import numpy as np

    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(int(pitch_hz))
    tone = sum(np.sin(2 * np.pi * pitch_hz * k * t) / k for k in (1, 2, 3))
    return (0.3 * tone * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)) + 0.01 * rng.standard_normal(t.size)).astype("float32")


def build_xtts(dest: Path) -> None:
    """An XTTS with a 2-layer, 64-wide GPT, two languages and two built-in voices."""
    import soundfile as sf
    import torch
    from TTS.tts.configs.xtts_config import XttsConfig
    from TTS.tts.layers.xtts.tokenizer import VoiceBpeTokenizer
    from TTS.tts.models.xtts import Xtts, XttsArgs

    dest = Path(dest)
    vocab = dest / "vocab.json"
    _xtts_vocab(vocab)
    # gpt_max_audio_tokens bounds a chunk's audio (x1024 samples at 22.05 kHz): 24 codes is ~1.1 s.
    args = XttsArgs(tokenizer_file=str(vocab), gpt_layers=2, gpt_n_model_channels=64, gpt_n_heads=4,
                    gpt_max_audio_tokens=24, gpt_max_text_tokens=120, gpt_num_audio_tokens=130,
                    gpt_start_audio_token=128, gpt_stop_audio_token=129, decoder_input_dim=64,
                    gpt_use_perceiver_resampler=True)
    config = XttsConfig(model_args=args, languages=list(TINY_XTTS_LANGUAGES))
    model = Xtts(config)
    model.tokenizer = VoiceBpeTokenizer(vocab_file=str(vocab))
    model.init_models()
    model.gpt.init_gpt_for_inference(kv_cache=True)
    model.eval()
    voices = {}
    for i, name in enumerate(TINY_XTTS_SPEAKERS):
        clip = dest / f".voice-{i}.wav"
        sf.write(clip, _reference_tone(3.0, 120.0 + 90.0 * i), 22050)
        latent, embedding = model.get_conditioning_latents(audio_path=str(clip))
        clip.unlink()
        voices[name] = {"gpt_cond_latent": latent.cpu(), "speaker_embedding": embedding.cpu()}
    torch.save(voices, dest / "speakers_xtts.pth")
    torch.save({"model": model.state_dict()}, dest / "model.pth")
    config.model_args.tokenizer_file = "vocab.json"  # the loader reads vocab.json beside the checkpoint
    config.save_json(str(dest / "config.json"))
