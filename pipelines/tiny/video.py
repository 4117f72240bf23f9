"""Tiny video families (LTX-Video, Wan 2.2 TI2V, CogVideoX, Stable Video Diffusion).

The real pipeline classes with random weights, shaped like diffusers' own test components but
with the published models' *geometry*: the same spatial and temporal compression (LTX 32x/8x,
Wan 2.2 16x/4x with a 2x2 transformer patch, CogVideoX 8x/4x with a 2x2 patch, SVD 8x), so the size
and frame-count rules the studio enforces are the real ones. The channel widths are tiny, which
lets a test make 256x256 frames (the watermark's minimum) in about a second per model.
"""
from __future__ import annotations

from pathlib import Path

from pipelines.tiny.image import t5_encoder
from pipelines.tiny.tokenizers import t5_tokenizer


def _ltx_parts(timestep_conditioning: bool = False, dynamic_shifting: bool = True) -> dict:
    """LTX-Video 0.9 layout: patch-4 VAE with three 2x spatio-temporal stages (32x, 8x)."""
    from diffusers import AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXVideoTransformer3DModel

    transformer = LTXVideoTransformer3DModel(in_channels=8, out_channels=8, patch_size=1, patch_size_t=1,
                                             num_attention_heads=4, attention_head_dim=8, cross_attention_dim=32,
                                             num_layers=1, caption_channels=32)
    stages = (True, True, True, False)
    vae = AutoencoderKLLTXVideo(in_channels=3, out_channels=3, latent_channels=8, block_out_channels=(8, 8, 8, 8),
                                decoder_block_out_channels=(8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1),
                                decoder_layers_per_block=(1, 1, 1, 1, 1), spatio_temporal_scaling=stages,
                                decoder_spatio_temporal_scaling=stages,
                                decoder_inject_noise=(False, False, False, False, False),
                                upsample_residual=(False, False, False, False), upsample_factor=(1, 1, 1, 1),
                                timestep_conditioning=timestep_conditioning, patch_size=4, patch_size_t=1,
                                encoder_causal=True, decoder_causal=False)
    # The scheduler settings the published repositories ship: 0.9.0/0.9.1 shift by resolution;
    # 0.9.5+ (LTXConditionPipeline, which makes its own schedule) do not shift at all.
    if dynamic_shifting:
        scheduler = FlowMatchEulerDiscreteScheduler(base_image_seq_len=1024, base_shift=0.95, max_image_seq_len=4096,
                                                    max_shift=2.05, shift=1.0, shift_terminal=0.1,
                                                    use_dynamic_shifting=True)
    else:
        scheduler = FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=False)
    return dict(transformer=transformer, vae=vae, scheduler=scheduler, text_encoder=t5_encoder(),
                tokenizer=t5_tokenizer(model_max_length=128))


def build_ltx(dest: Path) -> None:
    """LTX-Video 0.9 (LTXPipeline), as `Lightricks/LTX-Video` is laid out."""
    from diffusers import LTXPipeline

    LTXPipeline(**_ltx_parts()).save_pretrained(dest)


def build_ltx_distilled(dest: Path) -> None:
    """LTX-Video 0.9.7 distilled (LTXConditionPipeline, timestep-aware VAE), as
    `Lightricks/LTX-Video-0.9.7-distilled` is laid out."""
    from diffusers import LTXConditionPipeline

    LTXConditionPipeline(**_ltx_parts(timestep_conditioning=True, dynamic_shifting=False)).save_pretrained(dest)


def build_wan(dest: Path) -> None:
    """Wan 2.2 TI2V-5B layout: residual causal 3D VAE with a 2x2 patch (16x, 4x), 48 latent
    channels, a 1x2x2-patch transformer, and `expand_timesteps` (one model, text or a still)."""
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel

    z_dim = 48
    vae = AutoencoderKLWan(base_dim=8, decoder_base_dim=8, z_dim=z_dim, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True], is_residual=True, patch_size=2,
                           in_channels=12, out_channels=12,  # RGB x 2x2 patch, as in Wan 2.2's VAE
                           scale_factor_spatial=16, scale_factor_temporal=4,
                           latents_mean=[0.0] * z_dim, latents_std=[1.0] * z_dim)
    transformer = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12,
                                        in_channels=z_dim, out_channels=z_dim, text_dim=32, freq_dim=256, ffn_dim=32,
                                        num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
                                        rope_max_seq_len=1024)
    # Wan's published scheduler: UniPC on flow sigmas (Wan 2.2 TI2V ships shift 5).
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=5.0,
                                        num_train_timesteps=1000)
    WanPipeline(transformer=transformer, vae=vae, scheduler=scheduler, text_encoder=umt5_encoder(),
                tokenizer=t5_tokenizer(), expand_timesteps=True).save_pretrained(dest)


def umt5_encoder():
    """Wan's text encoder class (UMT5) with its own config type, at T5-test size."""
    from transformers import UMT5Config, UMT5EncoderModel

    return UMT5EncoderModel(UMT5Config(vocab_size=256, d_model=32, d_ff=37, d_kv=8, num_layers=2, num_heads=4,
                                       relative_attention_num_buckets=8, decoder_start_token_id=0, pad_token_id=0,
                                       eos_token_id=1))


def build_cogvideox(dest: Path) -> None:
    """CogVideoX-2b layout: 3D VAE (8x, 4x), 2x2-patch transformer, 226 text tokens."""
    from diffusers import (AutoencoderKLCogVideoX, CogVideoXDDIMScheduler, CogVideoXPipeline,
                           CogVideoXTransformer3DModel)

    transformer = CogVideoXTransformer3DModel(num_attention_heads=4, attention_head_dim=8, in_channels=4,
                                              out_channels=4, time_embed_dim=2, text_embed_dim=32, num_layers=1,
                                              sample_width=32, sample_height=32, sample_frames=9, patch_size=2,
                                              temporal_compression_ratio=4, max_text_seq_length=226)
    vae = AutoencoderKLCogVideoX(in_channels=3, out_channels=3, down_block_types=("CogVideoXDownBlock3D",) * 4,
                                 up_block_types=("CogVideoXUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8),
                                 latent_channels=4, layers_per_block=1, norm_num_groups=2, temporal_compression_ratio=4)
    # CogVideoX-2b's published scheduler configuration.
    scheduler = CogVideoXDDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                       clip_sample=False, prediction_type="v_prediction", rescale_betas_zero_snr=True,
                                       set_alpha_to_one=True, snr_shift_scale=3.0, timestep_spacing="trailing")
    CogVideoXPipeline(transformer=transformer, vae=vae, scheduler=scheduler, text_encoder=t5_encoder(),
                      tokenizer=t5_tokenizer(model_max_length=226)).save_pretrained(dest)


def build_svd(dest: Path) -> None:
    """Stable Video Diffusion layout: 8x VAE with a temporal decoder, CLIP vision at 224 px."""
    from diffusers import (AutoencoderKLTemporalDecoder, EulerDiscreteScheduler, StableVideoDiffusionPipeline,
                           UNetSpatioTemporalConditionModel)
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    unet = UNetSpatioTemporalConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=8, out_channels=4,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"), cross_attention_dim=32,
        num_attention_heads=4, projection_class_embeddings_input_dim=96, addition_time_embed_dim=32, num_frames=14)
    # GroupNorm inside the VAE uses 32 groups, so every stage needs a multiple of 32 channels.
    vae = AutoencoderKLTemporalDecoder(block_out_channels=[32, 32, 32, 32], in_channels=3, out_channels=3,
                                       down_block_types=["DownEncoderBlock2D"] * 4, layers_per_block=1,
                                       latent_channels=4)
    # SVD resizes the still to 224 px before the image encoder, so the tiny encoder must take 224.
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, projection_dim=32, num_hidden_layers=2, num_attention_heads=4, image_size=224,
        intermediate_size=37, patch_size=14))
    # The published SVD scheduler configuration (EDM-style Euler, v-prediction, Karras sigmas).
    scheduler = EulerDiscreteScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                       interpolation_type="linear", num_train_timesteps=1000,
                                       prediction_type="v_prediction", sigma_max=700.0, sigma_min=0.002,
                                       steps_offset=1, timestep_spacing="leading", timestep_type="continuous",
                                       use_karras_sigmas=True)
    StableVideoDiffusionPipeline(unet=unet, image_encoder=image_encoder, scheduler=scheduler, vae=vae,
                                 feature_extractor=CLIPImageProcessor(crop_size=224, size=224)).save_pretrained(dest)
