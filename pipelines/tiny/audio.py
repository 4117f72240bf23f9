"""Tiny music and sound-effect families: MusicGen (mono, stereo, melody), Stable Audio Open and AudioLDM 2.

Each is the real class with random weights at a tiny width but with the published models' audio
geometry (sample rates, hop lengths, codebook layout), so lengths, channel counts and file formats
come out as they do with real weights. Saved with `save_pretrained` in the download layout.
"""
from __future__ import annotations

from pathlib import Path

from pipelines.tiny.tokenizers import roberta_tokenizer, t5_tokenizer

# MusicGen: EnCodec 32 kHz with hop 640 (50 frames/s) and 4 codebooks, as musicgen-small.
MUSICGEN_RATE = 32000
CODEBOOK_SIZE = 64            # must be a power of two for EncodecConfig in transformers 5
# The context window a generate call covers, in tokens (the real models: 1500 = 30 s at 50 Hz).
# Tiny: 2 s, so that tests exercise continuation past the window in a fraction of a second.
TINY_WINDOW_FRAMES = 100


def _t5_config():
    from transformers import T5Config

    return T5Config(vocab_size=256, d_model=16, d_ff=37, num_layers=2, num_heads=4, d_kv=4,
                    relative_attention_num_buckets=8)


def _encodec_config():
    from transformers import EncodecConfig

    # upsampling_ratios [8, 5, 4, 4] -> hop 640; 1.2 kbps at 50 Hz with 6-bit codebooks -> 4 quantizers,
    # the 4 codebooks of the decoder (musicgen-small: 2.2 kbps with 11-bit codebooks).
    return EncodecConfig(hidden_size=16, compress=2, num_filters=2, upsampling_ratios=[8, 5, 4, 4],
                         codebook_size=CODEBOOK_SIZE, target_bandwidths=[1.2], use_conv_shortcut=False,
                         sampling_rate=MUSICGEN_RATE, audio_channels=1, normalize=False, num_lstm_layers=1)


def _decoder_kwargs(audio_channels: int) -> dict:
    # A tiny vocabulary needs pad/bos/start ids equal to its size (the id just past the codebook).
    return dict(vocab_size=CODEBOOK_SIZE, hidden_size=16, num_hidden_layers=2, num_attention_heads=4, ffn_dim=37,
                pad_token_id=CODEBOOK_SIZE, bos_token_id=CODEBOOK_SIZE, num_codebooks=4 * audio_channels,
                tie_word_embeddings=False, audio_channels=audio_channels, max_position_embeddings=256,
                # The default 0.02 leaves the logits almost flat, so sampling would ignore the prompt
                # and melody; at 0.5 the conditioning visibly steers the tokens.
                initializer_factor=0.5)


def fill_codebooks(model) -> None:
    """Give EnCodec's codebooks random entries.

    A fresh EnCodec's codebooks are all zeros (training fills them by k-means), so every token
    would decode to the same sound; random entries make the audio depend on the tokens, as with
    trained weights.
    """
    import torch

    for layer in model.audio_encoder.quantizer.layers:
        book = layer.codebook
        with torch.no_grad():
            book.embed.normal_()
            book.embed_avg.copy_(book.embed)
            book.cluster_size.fill_(1.0)


def _set_generation_defaults(model, delays: int) -> None:
    """The published repositories' generation_config.json values, with the tiny window."""
    gc = model.generation_config
    gc.decoder_start_token_id = CODEBOOK_SIZE
    gc.pad_token_id = CODEBOOK_SIZE
    gc.bos_token_id = CODEBOOK_SIZE
    gc.do_sample = True
    gc.guidance_scale = 3.0
    gc.top_k = 250
    gc.max_length = TINY_WINDOW_FRAMES + delays


def _build_musicgen(dest: Path, audio_channels: int) -> None:
    from transformers import (EncodecFeatureExtractor, MusicgenConfig, MusicgenDecoderConfig,
                              MusicgenForConditionalGeneration, MusicgenProcessor)

    decoder = MusicgenDecoderConfig(**_decoder_kwargs(audio_channels))
    config = MusicgenConfig(text_encoder=_t5_config(), audio_encoder=_encodec_config(), decoder=decoder)
    model = MusicgenForConditionalGeneration(config)
    fill_codebooks(model)
    _set_generation_defaults(model, delays=4)
    model.save_pretrained(dest)
    feature_extractor = EncodecFeatureExtractor(feature_size=audio_channels, sampling_rate=MUSICGEN_RATE)
    MusicgenProcessor(feature_extractor=feature_extractor, tokenizer=t5_tokenizer()).save_pretrained(dest)


def build_musicgen(dest: Path) -> None:
    """Tiny mono MusicGen (the facebook/musicgen-small layout)."""
    _build_musicgen(dest, audio_channels=1)


def build_musicgen_stereo(dest: Path) -> None:
    """Tiny stereo MusicGen (facebook/musicgen-stereo-*: 8 interleaved left/right codebooks)."""
    _build_musicgen(dest, audio_channels=2)


def build_musicgen_melody(dest: Path) -> None:
    """Tiny MusicGen Melody: chroma of a reference tune prepended to the text conditioning."""
    from transformers import (MusicgenMelodyConfig, MusicgenMelodyDecoderConfig, MusicgenMelodyFeatureExtractor,
                              MusicgenMelodyForConditionalGeneration, MusicgenMelodyProcessor)

    decoder = MusicgenMelodyDecoderConfig(**_decoder_kwargs(1))
    # num_chroma/chroma_length as facebook/musicgen-melody (235 chroma frames = 30 s at hop 4096).
    config = MusicgenMelodyConfig(text_encoder=_t5_config(), audio_encoder=_encodec_config(), decoder=decoder,
                                  num_chroma=12, chroma_length=235)
    model = MusicgenMelodyForConditionalGeneration(config)
    fill_codebooks(model)
    _set_generation_defaults(model, delays=4)
    model.save_pretrained(dest)
    feature_extractor = MusicgenMelodyFeatureExtractor(feature_size=12, sampling_rate=MUSICGEN_RATE, hop_length=4096,
                                                       chunk_length=30, n_fft=16384, num_chroma=12)
    MusicgenMelodyProcessor(feature_extractor=feature_extractor, tokenizer=t5_tokenizer()).save_pretrained(dest)


def build_stable_audio(dest: Path) -> None:
    """Tiny Stable Audio Open: stereo 44.1 kHz, Oobleck hop 2048 as the published model; ~5.9 s window."""
    from diffusers import (AutoencoderOobleck, CosineDPMSolverMultistepScheduler, StableAudioDiTModel,
                           StableAudioPipeline, StableAudioProjectionModel)
    from transformers import T5Config, T5EncoderModel

    latent_channels = 4
    transformer = StableAudioDiTModel(sample_size=128, in_channels=latent_channels, num_layers=2, attention_head_dim=4,
                                      num_attention_heads=2, num_key_value_attention_heads=1,
                                      out_channels=latent_channels, cross_attention_dim=8, time_proj_dim=8,
                                      global_states_input_dim=16, cross_attention_input_dim=8)
    vae = AutoencoderOobleck(encoder_hidden_size=4, downsampling_ratios=[2, 4, 4, 8, 8],
                             channel_multiples=[1, 1, 1, 1, 1],
                             decoder_channels=4, decoder_input_channels=latent_channels, audio_channels=2,
                             sampling_rate=44100)
    # The published scheduler configuration of stabilityai/stable-audio-open-1.0.
    scheduler = CosineDPMSolverMultistepScheduler(sigma_min=0.3, sigma_max=500, solver_order=2,
                                                  prediction_type="v_prediction", sigma_data=1.0,
                                                  sigma_schedule="exponential")
    text_encoder = T5EncoderModel(T5Config(vocab_size=256, d_model=32, d_ff=37, d_kv=8, num_layers=2, num_heads=4,
                                           relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1))
    projection = StableAudioProjectionModel(text_encoder_dim=32, conditioning_dim=8, min_value=0, max_value=512)
    StableAudioPipeline(transformer=transformer, scheduler=scheduler, vae=vae, text_encoder=text_encoder,
                        tokenizer=t5_tokenizer(model_max_length=64), projection_model=projection).save_pretrained(dest)


def _hifigan(mel_bins: int):
    from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

    # AudioLDM 2's vocoder geometry: 16 kHz, upsampling 5*4*2*2*2 = 160 samples per mel frame.
    return SpeechT5HifiGan(SpeechT5HifiGanConfig(
        model_in_dim=mel_bins, sampling_rate=16000, upsample_initial_channel=32, upsample_rates=[5, 4, 2, 2, 2],
        upsample_kernel_sizes=[10, 8, 4, 4, 4], resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]],
        # At the default 0.01, five random upsampling stages give ~1e-10 (silence, which loudness
        # normalisation cannot measure); 0.2 gives an audible level.
        normalize_before=False, initializer_range=0.2))


def build_audioldm2(dest: Path) -> None:
    """Tiny AudioLDM 2 (CLAP + T5 + GPT-2 conditioning, latent UNet, HiFi-GAN vocoder at 16 kHz)."""
    from diffusers import (AudioLDM2Pipeline, AudioLDM2ProjectionModel, AudioLDM2UNet2DConditionModel, AutoencoderKL,
                           DDIMScheduler)
    from transformers import (ClapAudioConfig, ClapConfig, ClapFeatureExtractor, ClapModel, ClapTextConfig, GPT2Config,
                              GPT2LMHeadModel, T5Config, T5EncoderModel)

    mel_bins = 16
    unet = AudioLDM2UNet2DConditionModel(block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=8,
                                         sample_size=32, in_channels=4, out_channels=4,
                                         down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                         up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
                                         cross_attention_dim=(8, 16))
    # The published scheduler configuration of cvssp/audioldm2.
    scheduler = DDIMScheduler(beta_start=0.0015, beta_end=0.0195, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    vae = AutoencoderKL(block_out_channels=[8, 16], in_channels=1, out_channels=1, norm_num_groups=8,
                        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                        latent_channels=4)
    text_cfg = ClapTextConfig(bos_token_id=0, eos_token_id=2, hidden_size=8, intermediate_size=37, layer_norm_eps=1e-05,
                              num_attention_heads=1, num_hidden_layers=1, pad_token_id=1, vocab_size=1000,
                              projection_dim=8)
    audio_cfg = ClapAudioConfig(spec_size=8, window_size=4, num_mel_bins=8, intermediate_size=37, layer_norm_eps=1e-05,
                                depths=[1, 1], num_attention_heads=[1, 1], num_hidden_layers=1, hidden_size=192,
                                projection_dim=8, patch_size=2, patch_stride=2, patch_embed_input_channels=4)
    clap = ClapModel(ClapConfig(text_config=text_cfg.to_dict(), audio_config=audio_cfg.to_dict(), projection_dim=16))
    t5 = T5EncoderModel(T5Config(vocab_size=256, d_model=32, d_ff=37, d_kv=8, num_heads=1, num_layers=1))
    # AudioLDM 2's language model must be GPT2LMHeadModel (the pipeline calls its generation helpers).
    language_model = GPT2LMHeadModel(GPT2Config(n_embd=16, n_head=1, n_layer=1, vocab_size=1000, n_ctx=99,
                                                n_positions=99, bos_token_id=999, eos_token_id=999))
    language_model.config.max_new_tokens = 8
    projection = AudioLDM2ProjectionModel(text_encoder_dim=16, text_encoder_1_dim=32, langauge_model_dim=16)
    AudioLDM2Pipeline(unet=unet, scheduler=scheduler, vae=vae, text_encoder=clap, tokenizer=roberta_tokenizer(),
                      feature_extractor=ClapFeatureExtractor(hop_length=7900), text_encoder_2=t5,
                      tokenizer_2=t5_tokenizer(model_max_length=77), language_model=language_model,
                      projection_model=projection, vocoder=_hifigan(mel_bins)).save_pretrained(dest)
