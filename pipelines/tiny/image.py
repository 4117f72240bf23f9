"""Tiny text-to-image families (SD 1.5, SDXL, SD3, Flux), shaped like diffusers' own test components.

Where the studio depends on a property of the published model, the twin has it: the latent channels,
scale and shift of each family's VAE (16 channels for SD3 and Flux), CLIP's real tokenizer, SD 1.5's
safety checker and SDXL's fp16 VAE flag. Only the widths are tiny.
"""
from __future__ import annotations

from pathlib import Path

from pipelines.tiny.tokenizers import clip_tokenizer, t5_tokenizer


# The latent space of each family's published VAE (its config.json): SD 1.x/2.x and SDXL have 4 channels,
# SD3 and Flux 16, each with its own scale and shift. The twins use the same numbers.
SD_VAE = dict(latent_channels=4, scaling_factor=0.18215)
SDXL_VAE = dict(latent_channels=4, scaling_factor=0.13025, force_upcast=True)
SD3_VAE = dict(latent_channels=16, scaling_factor=1.5305, shift_factor=0.0609, use_quant_conv=False,
               use_post_quant_conv=False)
FLUX_VAE = dict(latent_channels=16, scaling_factor=0.3611, shift_factor=0.1159, use_quant_conv=False,
                use_post_quant_conv=False)


def clip_text_config(**overrides):
    """A tiny CLIP text encoder over CLIP's real 49,408-token vocabulary (the published configs' legacy
    bos/eos/pad ids 0/2/1, with which transformers pools at the end-of-text token)."""
    from transformers import CLIPTextConfig

    base = dict(bos_token_id=0, eos_token_id=2, pad_token_id=1, vocab_size=49408, hidden_size=32,
                intermediate_size=37, layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=5,
                hidden_act="gelu", projection_dim=32, max_position_embeddings=77)
    base.update(overrides)
    return CLIPTextConfig(**base)


def t5_encoder(d_model: int = 32, cls: str = "T5EncoderModel"):
    import transformers
    from transformers import T5Config

    cfg = T5Config(vocab_size=256, d_model=d_model, d_ff=37, d_kv=8, num_layers=2, num_heads=4,
                   relative_attention_num_buckets=8, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    return getattr(transformers, cls)(cfg)


def tiny_vae(latent: dict):
    """A 4-level AutoencoderKL: the published models' factor-8 geometry and latent space at a tiny width."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(block_out_channels=(4, 4, 4, 4), in_channels=3, out_channels=3, layers_per_block=1,
                         down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                         norm_num_groups=2, sample_size=256, **latent)


def tiny_safety_checker():
    """SD's own StableDiffusionSafetyChecker and its CLIPImageProcessor (224 px, as the published
    repositories ship them) with a tiny CLIP vision tower.

    Its 17 concept and 3 special-care embeddings are all ones with thresholds of 1, as the class
    initialises them: a cosine can never exceed 1, so this twin never flags an image. Tests that need a
    verdict set the embeddings and thresholds themselves.
    """
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessor

    tower = dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2)
    config = CLIPConfig(text_config=dict(tower, vocab_size=49408), projection_dim=32,
                        vision_config=dict(tower, image_size=224, patch_size=14))
    return StableDiffusionSafetyChecker(config).eval(), CLIPImageProcessor(crop_size=224, size={"shortest_edge": 224})


def sd15_components(in_channels: int = 4) -> dict:
    """SD 1.5 layout, with its safety checker; in_channels=9 gives the inpainting UNet."""
    from diffusers import PNDMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel

    unet = UNet2DConditionModel(block_out_channels=(4, 8), layers_per_block=1, sample_size=32, in_channels=in_channels,
                                out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
                                norm_num_groups=2)
    # PNDM with these betas is what the published SD 1.5 repository ships.
    scheduler = PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", skip_prk_steps=True,
                              steps_offset=1)
    vae = tiny_vae(SD_VAE)
    text_encoder = CLIPTextModel(clip_text_config(intermediate_size=64, num_attention_heads=8, num_hidden_layers=3))
    safety_checker, feature_extractor = tiny_safety_checker()
    return dict(unet=unet, scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=clip_tokenizer(),
                safety_checker=safety_checker, feature_extractor=feature_extractor, image_encoder=None)


def build_sd15(dest: Path) -> None:
    from diffusers import StableDiffusionPipeline

    StableDiffusionPipeline(**sd15_components(), requires_safety_checker=True).save_pretrained(dest)


def sdxl_components(in_channels: int = 4) -> dict:
    from diffusers import EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    unet = UNet2DConditionModel(block_out_channels=(2, 4), layers_per_block=2, sample_size=32, in_channels=in_channels,
                                out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 4),
                                use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=8,
                                transformer_layers_per_block=(1, 2), projection_class_embeddings_input_dim=80,
                                cross_attention_dim=64, norm_num_groups=1)
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, steps_offset=1, beta_schedule="scaled_linear",
                                       timestep_spacing="leading")
    # SDXL's published VAE overflows in fp16 and says so (force_upcast); the twin carries the same flag.
    vae = tiny_vae(SDXL_VAE)
    cfg = clip_text_config()
    return dict(unet=unet, scheduler=scheduler, vae=vae, text_encoder=CLIPTextModel(cfg), tokenizer=clip_tokenizer(),
                text_encoder_2=CLIPTextModelWithProjection(cfg), tokenizer_2=clip_tokenizer(pad_token="!"),
                image_encoder=None, feature_extractor=None)


def build_sdxl(dest: Path) -> None:
    from diffusers import StableDiffusionXLPipeline

    StableDiffusionXLPipeline(**sdxl_components()).save_pretrained(dest)


def build_sd3(dest: Path) -> None:
    """SD3's layout: 16 latent channels in 2x2 patches, two CLIPs whose pooled outputs are joined, and a
    T5 wider than both CLIPs together (SD3 pads the CLIP embeddings to T5's width)."""
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline
    from transformers import CLIPTextModelWithProjection

    transformer = SD3Transformer2DModel(sample_size=32, patch_size=2, in_channels=16, num_layers=1, attention_head_dim=8,
                                        num_attention_heads=4, caption_projection_dim=32, joint_attention_dim=64,
                                        pooled_projection_dim=64, out_channels=16, pos_embed_max_size=64)
    cfg = clip_text_config()
    StableDiffusion3Pipeline(
        transformer=transformer, vae=tiny_vae(SD3_VAE), scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
        text_encoder=CLIPTextModelWithProjection(cfg), tokenizer=clip_tokenizer(),
        text_encoder_2=CLIPTextModelWithProjection(cfg), tokenizer_2=clip_tokenizer(pad_token="!"),
        text_encoder_3=t5_encoder(d_model=64), tokenizer_3=t5_tokenizer(), image_encoder=None, feature_extractor=None,
    ).save_pretrained(dest)


def flux_components(in_channels: int = 64, out_channels: int | None = None) -> dict:
    """Flux's layout: 16 latent channels packed in 2x2 patches (64 transformer inputs)."""
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxTransformer2DModel
    from transformers import CLIPTextModel

    transformer = FluxTransformer2DModel(patch_size=1, in_channels=in_channels, out_channels=out_channels, num_layers=1,
                                         num_single_layers=1, attention_head_dim=16, num_attention_heads=2,
                                         joint_attention_dim=32, pooled_projection_dim=32, axes_dims_rope=[4, 4, 8])
    return dict(transformer=transformer, vae=tiny_vae(FLUX_VAE), scheduler=FlowMatchEulerDiscreteScheduler(),
                text_encoder=CLIPTextModel(clip_text_config()), tokenizer=clip_tokenizer(),
                text_encoder_2=t5_encoder(), tokenizer_2=t5_tokenizer(), image_encoder=None, feature_extractor=None)


def build_flux(dest: Path) -> None:
    from diffusers import FluxPipeline

    FluxPipeline(**flux_components()).save_pretrained(dest)


def tiny_preview_decoder(latent_channels: int):
    """An AutoencoderTiny in the published TAESD layout (1/3/3/3 encoder and 3/3/3/1 decoder blocks,
    factor 8, latent_magnitude 3, latent_shift 0.5) at width 8 instead of 64."""
    from diffusers import AutoencoderTiny

    return AutoencoderTiny(encoder_block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
                           num_encoder_blocks=(1, 3, 3, 3), num_decoder_blocks=(3, 3, 3, 1),
                           latent_channels=latent_channels)


def build_taesd(dest: Path) -> None:
    """TAESD / TAESDXL: the 4-channel latents of SD 1.x/2.x and SDXL."""
    tiny_preview_decoder(4).save_pretrained(dest)


def build_taesd16(dest: Path) -> None:
    """TAESD3 / TAEF1: the 16-channel latents of SD3 and Flux."""
    tiny_preview_decoder(16).save_pretrained(dest)


def build_sd15_lora(dest: Path) -> None:
    """A random LoRA on the tiny SD 1.5 UNet's attention, saved in diffusers' LoRA format
    (the layout of latent-consistency/lcm-lora-sdv1-5)."""
    from diffusers import StableDiffusionPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    unet = sd15_components()["unet"]
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights=False,
                                target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    StableDiffusionPipeline.save_lora_weights(dest, unet_lora_layers=get_peft_model_state_dict(unet),
                                              weight_name="pytorch_lora_weights.safetensors")
