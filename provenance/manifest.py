"""C2PA manifest definitions, built as pure functions: plain values in, a dict out.

Nothing here signs, reads files or looks at the clock; `publish` gathers the facts (hashes,
versions, time, verdict) and `signing` turns the dict into a signed manifest.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Iterable, Mapping

STUDIO_NAME = "genmedia-studio"
GENERATION_LABEL = "com.genmedia.generation"
TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
COMPOSITE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
# Disclosure by allow-list. With prompt disclosure off, a text value is recorded as it is only
# when its key is one of these: text the studio itself chose from its own lists (presets,
# schedulers, enums, languages, voices checked against the model's list) or made (ids, hashes).
# Every other text, at any depth, is the visitor's or may carry their words (prompts before and
# after styling, negatives, dialogue, lyrics, board titles and scripts, camera notes, file names)
# and is replaced by its SHA-256. Numbers, booleans and None always pass.
SAFE_TEXT_KEYS = frozenset({
    "task", "mode", "ran_as", "export", "model", "model_id", "model_label", "revision", "license", "tier",
    "device", "dtype", "pipeline", "scheduler", "scheduler_class", "style", "decoder", "sampling",
    "language", "speaker", "voice", "architecture", "motion", "seed_policy", "aspect", "format", "kind",
    "board_id", "panel_id", "music_id", "output_id", "parent_id", "attention", "preset", "family", "unit",
    "codec", "amount", "base_model", "control_type", "source_language", "target_language", "backend",
})
# Text under these keys is a digest already (mask_sha256, melody_sha256, ...).
SAFE_TEXT_SUFFIXES = ("_sha256",)
# The soft-binding algorithm of the studio's image/video watermark (provenance/watermark.py): an
# entity-specific name (reverse domain, as the C2PA soft-binding algorithm list asks of unlisted
# algorithms); the block value is the 48-bit mark as 12 lowercase hex digits.
WATERMARK_ALG = "com.genmedia.watermark.dwtdctsvd.1"
WATERMARK_ALG_PARAMS = ("invisible-watermark dwtDctSvd: U channel of YUV, one-level Haar DWT approximation band, "
                        "4x4 blocks, largest singular value quantised with step 36; bit i in every block i mod 48, "
                        "majority vote; value = the 48 bits as hex")
# Headline facts copied out of the parameters so a reader finds them without digging.
_MODEL_KEYS = {"model": "name", "model_id": "id", "revision": "revision", "license": "license"}
_RELATIONSHIPS = ("parentOf", "componentOf", "inputTo")


@dataclass(frozen=True)
class IngredientInfo:
    """One input of an edit, as the manifest describes it."""

    label: str  # unique within the manifest; actions point at it
    title: str  # the publisher passes it through `withheld` (an upload's file name is the visitor's)
    relationship: str  # parentOf | componentOf | inputTo
    mime: str | None
    sha256: str
    verdict: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class SoftBindingInfo:
    """One soft binding of the output (a watermark another verifier can look the file up by).

    `value` is the mark as the algorithm writes it; `region` (x, y, width, height in pixels)
    limits it to part of a picture; `timespan_ms` (start, end) to part of a recording.
    """

    alg: str
    value: str
    alg_params: str | None = None
    region: tuple[int, int, int, int] | None = None
    timespan_ms: tuple[int, int] | None = None


def sha256_text(text: str) -> str:
    """Hex SHA-256 of a string's UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def json_safe(value: Any) -> Any:
    """A copy of `value` made of JSON types only (numpy scalars, paths, tuples, sets...)."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, PurePath):
        return value.name
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        try:
            return json_safe(value.item())
        except (TypeError, ValueError):
            pass
    return str(value)


def numeric_lists_as_text(value: Any) -> Any:
    """Write every list made only of numbers as JSON text ("[512, 512]").

    c2pa-rs 0.91 reads such lists back as base64 byte strings with each value cut to one byte
    (contentauth/c2pa-rs#2570: the CBOR is right, its JSON report is not), which would garble
    what Verify and the ledger show. Text round-trips exactly.
    """
    if isinstance(value, dict):
        return {k: numeric_lists_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        if value and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            return json.dumps(value)
        return [numeric_lists_as_text(v) for v in value]
    return value


def disclosed_parameters(params: Mapping[str, Any], disclose_prompt: bool) -> dict:
    """The generation parameters as recorded. With disclosure off, every text value whose key is
    not in SAFE_TEXT_KEYS is replaced by its SHA-256: `prompt` becomes `prompt_sha256`, and a
    text inside a list becomes "sha256:<hex>"."""
    out = json_safe(dict(params))
    return out if disclose_prompt else _redact(out)


def is_safe_text_key(key: str) -> bool:
    """Whether text recorded under `key` is the studio's own (shown even with disclosure off)."""
    return key in SAFE_TEXT_KEYS or key.endswith(SAFE_TEXT_SUFFIXES)


def _redact(value: Any, safe: bool = False) -> Any:
    """Hash every text not under an allow-listed key, at any depth (a board holds one text per shot)."""
    if isinstance(value, list):
        return [_redact(v, safe) for v in value]
    if isinstance(value, str):
        return value if safe else f"sha256:{sha256_text(value)}"
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        if isinstance(item, str) and not is_safe_text_key(key):
            out[f"{key}_sha256"] = sha256_text(item)
        else:
            out[key] = _redact(item, is_safe_text_key(key))
    return out


def withheld(text: str, disclose_prompt: bool) -> str:
    """A title or name as recorded: itself, or "sha256:<hex>" of it when disclosure is off."""
    return text if disclose_prompt or not text else f"sha256:{sha256_text(text)}"


def json_text(value: Any) -> str:
    """A string as itself, anything else as compact JSON (what gets hashed)."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))


def claim_generator(studio_version: str) -> list[dict]:
    """The claim_generator_info list: the studio's name and version."""
    return [{"name": STUDIO_NAME, "version": studio_version}]


def rectangle_region(box: tuple[int, int, int, int], name: str, description: str | None = None) -> dict:
    """A C2PA region of interest: one spatial rectangle (x, y, width, height in pixels, origin at
    the top-left corner) with a name.

    The spec's `role` (c2pa.edited, c2pa.watermarked) is left out: c2pa-rs as bundled with
    c2pa-python 0.38 refuses to sign any `role` value ("expected enum Role"), so the region says
    what it is in `name` and `description` instead.
    """
    x, y, w, h = (int(v) for v in box)
    shape = {"type": "rectangle", "unit": "pixel", "origin": {"x": x, "y": y}, "width": w, "height": h}
    region: dict = {"region": [{"type": "spatial", "shape": shape}], "name": name}
    if description:
        region["description"] = description
    return region


def actions_assertion(task: str, ingredients: Iterable[IngredientInfo], studio_version: str,
                      changed: tuple[int, int, int, int] | None = None,
                      edit_actions: tuple[str, ...] = ("c2pa.edited",)) -> dict:
    """The c2pa.actions assertion for a generation or an edit.

    - no inputs: c2pa.created, trainedAlgorithmicMedia
    - a parentOf input: c2pa.opened (the parent) then each of `edit_actions` (c2pa.edited; an
      upscale's c2pa.resized, and c2pa.edited after it when a creative pass added detail), composite
    - otherwise: c2pa.created, composite, citing inputTo inputs
    - each componentOf input: c2pa.placed
    `changed` (x, y, width, height) is the rectangle an edit changed: recorded as the edit's
    region of interest (`changes`), so a verifier can show where the
    generated pixels are.
    """
    ingredients = list(ingredients)
    for ing in ingredients:
        if ing.relationship not in _RELATIONSHIPS:
            raise ValueError(f"unknown ingredient relationship {ing.relationship!r}")
    parents = [i.label for i in ingredients if i.relationship == "parentOf"]
    if len(parents) > 1:
        raise ValueError("an output can have at most one parentOf input")
    conditioning = [i.label for i in ingredients if i.relationship == "inputTo"]
    agent = {"name": STUDIO_NAME, "version": studio_version}
    main: dict = {"softwareAgent": agent, "description": task.replace("_", " "),
                  "digitalSourceType": COMPOSITE if ingredients else TRAINED}
    if conditioning:
        main["parameters"] = {"ingredientIds": conditioning}
    if changed is not None:
        main["changes"] = [rectangle_region(changed, "generated area", "the box around the area the model "
                                                                   "generated; outside that area every pixel "
                                                                   "is the source's")]
    actions: list[dict] = []
    if parents:
        actions.append({"action": "c2pa.opened", "parameters": {"ingredientIds": parents}})
        actions.append({"action": edit_actions[0], **main})
        actions += [{"action": a, "softwareAgent": agent, "digitalSourceType": COMPOSITE} for a in edit_actions[1:]]
    else:
        actions.append({"action": "c2pa.created", **main})
    for ing in ingredients:
        if ing.relationship == "componentOf":
            actions.append({"action": "c2pa.placed", "parameters": {"ingredientIds": [ing.label]}})
    return {"label": "c2pa.actions", "data": {"actions": actions}}


def generation_assertion(*, task: str, params: Mapping[str, Any], disclose_prompt: bool, studio_version: str,
                         library_versions: Mapping[str, str], verdict: Mapping[str, Any] | None,
                         watermark: Mapping[str, Any], media: Mapping[str, Any],
                         ingredients: Iterable[IngredientInfo], created: str) -> dict:
    """The studio's own assertion: what made this file and how, in one readable place."""
    recorded = disclosed_parameters(params, disclose_prompt)
    model = {name: recorded[key] for key, name in _MODEL_KEYS.items() if recorded.get(key) is not None}
    data: dict = {
        "task": task,
        "created": created,
        "model": model,
        "parameters": recorded,
        "prompt_disclosed": bool(disclose_prompt),
        "media": json_safe(dict(media)),
        "watermark": json_safe(dict(watermark)),
        "detector": json_safe(dict(verdict)) if verdict is not None else None,
        "inputs": [{"title": i.title, "relationship": i.relationship, "format": i.mime, "sha256": i.sha256,
                    "verdict": json_safe(dict(i.verdict)) if i.verdict is not None else None}
                   for i in ingredients],
        "software": {STUDIO_NAME: studio_version, **dict(library_versions)},
    }
    for key in ("prompt", "prompt_sha256"):
        if key in recorded:
            data[key] = recorded[key]
    return {"label": GENERATION_LABEL, "data": numeric_lists_as_text(data)}


def soft_binding_assertion(binding: SoftBindingInfo) -> dict:
    """A c2pa.soft-binding assertion (C2PA 2.x soft-binding-map): the algorithm, its parameters,
    and one block whose scope is the whole asset, a region of it, or a timespan."""
    scope: dict = {}
    if binding.region is not None:
        scope["region"] = rectangle_region(binding.region, "watermarked area",
                                           "the mark is read from the 8x8-pixel blocks inside this box")
    if binding.timespan_ms is not None:
        scope["timespan"] = {"start": int(binding.timespan_ms[0]), "end": int(binding.timespan_ms[1])}
    data: dict = {"alg": binding.alg, "blocks": [{"scope": scope, "value": binding.value}], "pad": []}
    if binding.alg_params:
        data["alg_params"] = binding.alg_params
    return {"label": "c2pa.soft-binding", "data": data}


def ingredient_definition(ing: IngredientInfo) -> dict:
    """The ingredient JSON handed to c2pa with the input's bytes."""
    return {"title": ing.title, "relationship": ing.relationship, "label": ing.label}


def build_manifest(*, title: str, mime: str, task: str, params: Mapping[str, Any], disclose_prompt: bool,
                   studio_version: str, library_versions: Mapping[str, str],
                   verdict: Mapping[str, Any] | None, watermark: Mapping[str, Any],
                   media: Mapping[str, Any], ingredients: Iterable[IngredientInfo] = (),
                   created: str, default_title: str | None = None,
                   changed: tuple[int, int, int, int] | None = None,
                   soft_bindings: Iterable[SoftBindingInfo] = (),
                   edit_actions: tuple[str, ...] = ("c2pa.edited",)) -> dict:
    """The whole manifest definition for one output file.

    With disclosure off, a `title` other than `default_title` (the studio's own "<task>.<ext>")
    is withheld: the manifest shows `default_title` and records the title's SHA-256.
    `changed` is the rectangle an edit changed (the edit action's region of interest);
    `soft_bindings` become one c2pa.soft-binding assertion each (the image/video watermark,
    and any other mark a publisher adds, such as an audio watermark's id).
    """
    ingredients = list(ingredients)
    shown = title
    generation = generation_assertion(task=task, params=params, disclose_prompt=disclose_prompt,
                                      studio_version=studio_version, library_versions=library_versions,
                                      verdict=verdict, watermark=watermark, media=media,
                                      ingredients=ingredients, created=created)
    if not disclose_prompt and title and title != default_title:
        shown = default_title or withheld(title, False)
        generation["data"]["title_sha256"] = sha256_text(title)
    return {
        "claim_generator_info": claim_generator(studio_version),
        "title": shown,
        "format": mime,
        "assertions": [
            actions_assertion(task, ingredients, studio_version, changed, edit_actions),
            generation,
            *(soft_binding_assertion(b) for b in soft_bindings),
        ],
    }
