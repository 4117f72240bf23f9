"""Torch-module faces for compiled OpenVINO models: what `openvino_backend.swap` puts into a request's
view in place of the UNet, the VAE and the CLIP text encoder. Imported only once OpenVINO runs
(this module imports torch; pipelines.openvino_backend does not).

diffusers asks a module for its device, dtype and config, and calls it with its own keyword names;
each wrapper answers those from the loaded PyTorch module and runs the compiled model for the rest.
"""
from __future__ import annotations

import threading

import torch


class OVModule(torch.nn.Module):
    """A torch module face for one compiled component (pipelines.openvino_export.Component): the
    loaded module's config and dtype, the CPU as its device, and its own infer request."""

    def __init__(self, component, original):
        super().__init__()
        self.component = component
        self.request = None   # this wrapper's own infer request
        self.lock = threading.Lock()   # the text encoder's wrapper is shared by concurrent requests
        self.config = original.config
        self.out_dtype = original.dtype

    @property
    def device(self):
        return torch.device("cpu")

    @property
    def dtype(self):
        return self.out_dtype

    def infer(self, *inputs):
        feed = [(x.to(torch.float32) if x.is_floating_point() else x).detach().numpy() for x in inputs]
        with self.lock:
            if self.request is None:
                self.request = self.component.compiled().create_infer_request()
            out = self.request.infer(feed, share_inputs=True)
            return torch.from_numpy(out[0].copy()).to(self.out_dtype)


class OVUNet(OVModule):
    """Called as diffusers calls a UNet2DConditionModel."""

    def __init__(self, component, unet):
        super().__init__(component, unet)
        self.names = component.names
        if "add_embedding" in unet._modules:  # SDXL's pipeline reads its input width
            self.add_embedding = unet.add_embedding

    def forward(self, sample, timestep, encoder_hidden_states, timestep_cond=None,
                added_cond_kwargs=None, return_dict=False, **_unused):
        timestep = torch.as_tensor(timestep, dtype=torch.float32).reshape(-1)[:1].expand(sample.shape[0])
        given = {"sample": sample, "timestep": timestep, "encoder_hidden_states": encoder_hidden_states,
                 "timestep_cond": timestep_cond, **(added_cond_kwargs or {})}
        return (self.infer(*[given[name] for name in self.names]),)


class OVDecoder(OVModule):
    """Answers `vae.decode(latents)` with the exported decoder and, given the exported encoder,
    `vae.encode(image)` with diffusers' own latent distribution, so `retrieve_latents(...,
    generator)` samples the same noise as on PyTorch. The VAE's config (scaling_factor,
    force_upcast...) and dtype are the loaded module's."""

    def __init__(self, component, vae, encoder=None):
        super().__init__(component, vae)
        self.encoder = None if encoder is None else OVModule(encoder, vae)

    def forward(self, latents):
        return self.infer(latents)

    def decode(self, latents, return_dict=True, generator=None):
        from diffusers.models.autoencoders.vae import DecoderOutput

        image = self.infer(latents)
        return DecoderOutput(sample=image) if return_dict else (image,)

    def encode(self, image, return_dict=True):
        from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKLOutput
        from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

        if self.encoder is None:   # openvino_backend.PIPELINES declares which pipelines need it
            raise RuntimeError("the VAE encoder was not exported for this pipeline")
        posterior = DiagonalGaussianDistribution(self.encoder.infer(image))
        return AutoencoderKLOutput(latent_dist=posterior) if return_dict else (posterior,)


class OVTextEncoder(OVModule):
    """Called as SD 1.5-family pipelines call a CLIPTextModel: `encoder(ids)[0]` is the last hidden
    state. A call asking for more (hidden states for clip skip, an attention mask) runs the loaded
    PyTorch module instead."""

    def __init__(self, component, encoder):
        super().__init__(component, encoder)
        self.original = [encoder]   # in a list: not a submodule of the wrapper

    def forward(self, input_ids, attention_mask=None, output_hidden_states=None, **kwargs):
        if attention_mask is not None or output_hidden_states or kwargs:
            return self.original[0](input_ids, attention_mask=attention_mask,
                                    output_hidden_states=output_hidden_states, **kwargs)
        return (self.infer(input_ids),)
