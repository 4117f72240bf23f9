"""Tiny IP-Adapters for the tiny SD 1.5 and SDXL, in the on-disk layout of h94/IP-Adapter.

    <dest>/models/ip-adapter_sd15.safetensors      image_proj.{proj,norm}.*, ip_adapter.<n>.to_{k,v}_ip.weight
    <dest>/models/image_encoder/                   CLIPVisionModelWithProjection (config, weights, preprocessor)

(`sdxl_models/ip-adapter_sdxl.safetensors` + `sdxl_models/image_encoder/` for SDXL.) Random
tensors of the shapes the tiny UNet's cross-attention takes, loaded by the same
`load_ip_adapter` call as the published files.
"""
from __future__ import annotations

from pathlib import Path

NUM_TOKENS = 4   # the image tokens of a (non-plus) IP-Adapter


def _build(dest: Path, unet, subfolder: str, weight_name: str) -> None:
    import torch
    from safetensors.torch import save_file
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    folder = Path(dest) / subfolder
    encoder_dir = folder / "image_encoder"
    embed_dim = 32
    # 224 px in 14 px patches, as the published ViT-H/14 and bigG/14 encoders: SD 1.5's pipeline
    # feature extractor (its safety checker's, 224 px) feeds this encoder too.
    encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, projection_dim=embed_dim, num_hidden_layers=2, num_attention_heads=4, image_size=224,
        intermediate_size=37, patch_size=14))
    encoder.save_pretrained(encoder_dir)
    # the image encoder's own size: diffusers makes the pipeline's feature extractor from it
    CLIPImageProcessor(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}).save_pretrained(encoder_dir)

    cross_dim = unet.config.cross_attention_dim
    tensors = {
        "image_proj.proj.weight": torch.randn(NUM_TOKENS * cross_dim, embed_dim) * 0.2,
        "image_proj.proj.bias": torch.randn(NUM_TOKENS * cross_dim) * 0.2,
        "image_proj.norm.weight": torch.ones(cross_dim),
        "image_proj.norm.bias": torch.zeros(cross_dim),
    }
    # Numbered as the published files are: every attention processor counts, attn1 even, attn2 odd.
    channels = unet.config.block_out_channels
    for index, name in enumerate(unet.attn_processors):
        if name.endswith("attn1.processor"):
            continue
        if name.startswith("mid_block"):
            hidden = channels[-1]
        elif name.startswith("up_blocks"):
            hidden = list(reversed(channels))[int(name[len("up_blocks.")])]
        else:
            hidden = channels[int(name[len("down_blocks.")])]
        for kind in ("to_k_ip", "to_v_ip"):
            tensors[f"ip_adapter.{index}.{kind}.weight"] = torch.randn(hidden, cross_dim) * 0.5
    save_file({k: v.contiguous() for k, v in tensors.items()}, folder / weight_name)


def build_sd15_ip_adapter(dest: Path) -> None:
    from pipelines.tiny.image import sd15_components

    _build(dest, sd15_components()["unet"], "models", "ip-adapter_sd15.safetensors")


def build_sdxl_ip_adapter(dest: Path) -> None:
    from pipelines.tiny.image import sdxl_components

    _build(dest, sdxl_components()["unet"], "sdxl_models", "ip-adapter_sdxl.safetensors")
