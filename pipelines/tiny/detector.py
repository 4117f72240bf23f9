"""Tiny detector families: an AI-vs-real image classifier (ViT) and a synthetic-speech
classifier (wav2vec2), the real transformers classes with random weights.

They are saved with `save_pretrained` next to their processor, the layout of a hub download,
and are loaded by pipelines/detect_image.py and detect_audio.py exactly as real weights are.
Their labels are those of the published models the presets name (umm-maybe/Organika's
"artificial"/"human", MelodyMachine's "fake"/"real"), so the presets' `generated_labels`
are exercised as they are in production. Their scores mean nothing: random weights.
"""
from __future__ import annotations

from pathlib import Path


def build_vit_detector(dest: Path) -> None:
    """A 2-layer ViTForImageClassification on 32 px inputs with a ViT image processor."""
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    labels = {0: "artificial", 1: "human"}
    config = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                       intermediate_size=37, num_labels=2, id2label=labels,
                       label2id={v: k for k, v in labels.items()}, problem_type="single_label_classification")
    ViTForImageClassification(config).save_pretrained(dest)
    ViTImageProcessor(size={"height": 32, "width": 32}, image_mean=[0.5] * 3, image_std=[0.5] * 3).save_pretrained(dest)


def build_wav2vec2_detector(dest: Path) -> None:
    """A 2-layer Wav2Vec2ForSequenceClassification on 16 kHz audio with its feature extractor.

    The convolutional front end keeps wav2vec2-base's shape (group norm, a 10-sample first
    kernel, stride 5) at three layers instead of seven, so it reads any clip of 400+ samples.
    """
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

    labels = {0: "fake", 1: "real"}
    config = Wav2Vec2Config(vocab_size=32, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=37, conv_dim=(16, 16, 16), conv_stride=(5, 4, 4), conv_kernel=(10, 8, 8),
                            num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, feat_extract_norm="group",
                            do_stable_layer_norm=False, classifier_proj_size=16, mask_time_prob=0.0, num_labels=2,
                            id2label=labels, label2id={v: k for k, v in labels.items()},
                            problem_type="single_label_classification")
    Wav2Vec2ForSequenceClassification(config).save_pretrained(dest)
    # wav2vec2-base's extractor: no attention mask (group-norm models must not be given one).
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                             return_attention_mask=False).save_pretrained(dest)
