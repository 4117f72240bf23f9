"""Few-step presets: a LoRA fused through the same loader, with the scheduler it needs."""
import numpy as np

from pipelines.runner import execute
from pipelines.text_to_image import Request


def test_lora_preset_loads_fuses_and_leaves_the_base_untouched(studio):
    base_before = execute(studio.models, "text_to_image",
                          Request(prompt="a fox", model="tiny-sd15", seed=2, steps=4, guidance=1.0, scheduler="lcm",
                                  width=256, height=256))
    fast = execute(studio.models, "text_to_image",
                   Request(prompt="a fox", model="tiny-sd15-fast", seed=2, steps=4, guidance=1.0, scheduler="lcm",
                           width=256, height=256))
    base_after = execute(studio.models, "text_to_image",
                         Request(prompt="a fox", model="tiny-sd15", seed=2, steps=4, guidance=1.0, scheduler="lcm",
                                 width=256, height=256))
    a, b, c = (np.asarray(r.artifacts[0].image).astype(int) for r in (base_before, fast, base_after))
    assert not np.array_equal(a, b)        # the adapter changed what the fast preset makes
    assert np.array_equal(a, c)            # ... and not what the shared base preset makes
    base_unet = studio.models.get("text_to_image", "tiny-sd15").pipe.unet
    fast_unet = studio.models.get("text_to_image", "tiny-sd15-fast").pipe.unet
    base_q = dict(base_unet.named_parameters())
    changed = [n for n, p in fast_unet.named_parameters() if not p.equal(base_q[n])]
    assert changed and all("attn" in n for n in changed)   # exactly the attention projections moved
    params = fast.artifacts[0].params
    assert params["scheduler_class"] == "LCMScheduler" and params["model"] == "tiny-sd15-fast"
    fast_pipe = studio.models.get("text_to_image", "tiny-sd15-fast").pipe
    assert not any("lora" in n for n, _ in fast_pipe.unet.named_parameters())  # fused, adapter layers gone


def test_fast_presets_are_marked_and_use_few_steps(studio):
    presets = studio.models.presets("text_to_image")
    fast = {n: p for n, p in presets.items() if p.fast}
    assert {"sd15-lcm", "sdxl-lightning", "hyper-sdxl", "flux-schnell", "sd-turbo"} <= set(fast)
    assert all(p.defaults["steps"] <= 8 for p in fast.values())
    assert presets["sdxl-lightning"].defaults["scheduler"] == "euler_trailing"
