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
# Parameters that carry the visitor's own words; hashed when prompt disclosure is off.
PROMPT_KEYS = ("prompt", "negative_prompt", "text", "lyrics", "description")
# Headline facts copied out of the parameters so a reader finds them without digging.
_MODEL_KEYS = {"model": "name", "model_id": "id", "revision": "revision", "license": "license"}
_RELATIONSHIPS = ("parentOf", "componentOf", "inputTo")


@dataclass(frozen=True)
class IngredientInfo:
    """One input of an edit, as the manifest describes it."""

    label: str  # unique within the manifest; actions point at it
    title: str
    relationship: str  # parentOf | componentOf | inputTo
    mime: str | None
    sha256: str
    verdict: Mapping[str, Any] | None = None


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
    """The generation parameters as recorded: prompt-like text replaced by its SHA-256 when
    disclosure is off (`prompt` becomes `prompt_sha256`, and so on)."""
    out = json_safe(dict(params))
    return out if disclose_prompt else _redact(out)


def _redact(value: Any) -> Any:
    """Hash prompt-like keys at any depth (a storyboard carries one prompt per panel)."""
    if isinstance(value, list):
        return [_redact(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        if key in PROMPT_KEYS and item is not None:
            out[f"{key}_sha256"] = sha256_text(json_text(item))
        else:
            out[key] = _redact(item)
    return out


def json_text(value: Any) -> str:
    """A string as itself, anything else as compact JSON (what gets hashed)."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))


def claim_generator(studio_version: str) -> list[dict]:
    """The claim_generator_info list: the studio's name and version."""
    return [{"name": STUDIO_NAME, "version": studio_version}]


def actions_assertion(task: str, ingredients: Iterable[IngredientInfo], studio_version: str) -> dict:
    """The c2pa.actions assertion for a generation or an edit.

    - no inputs: c2pa.created, trainedAlgorithmicMedia
    - a parentOf input: c2pa.opened (the parent) then c2pa.edited, composite
    - otherwise: c2pa.created, composite, citing inputTo inputs
    - each componentOf input: c2pa.placed
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
    actions: list[dict] = []
    if parents:
        actions.append({"action": "c2pa.opened", "parameters": {"ingredientIds": parents}})
        actions.append({"action": "c2pa.edited", **main})
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


def ingredient_definition(ing: IngredientInfo) -> dict:
    """The ingredient JSON handed to c2pa with the input's bytes."""
    return {"title": ing.title, "relationship": ing.relationship, "label": ing.label}


def build_manifest(*, title: str, mime: str, task: str, params: Mapping[str, Any], disclose_prompt: bool,
                   studio_version: str, library_versions: Mapping[str, str],
                   verdict: Mapping[str, Any] | None, watermark: Mapping[str, Any],
                   media: Mapping[str, Any], ingredients: Iterable[IngredientInfo] = (),
                   created: str) -> dict:
    """The whole manifest definition for one output file."""
    ingredients = list(ingredients)
    return {
        "claim_generator_info": claim_generator(studio_version),
        "title": title,
        "format": mime,
        "assertions": [
            actions_assertion(task, ingredients, studio_version),
            generation_assertion(task=task, params=params, disclose_prompt=disclose_prompt,
                                 studio_version=studio_version, library_versions=library_versions,
                                 verdict=verdict, watermark=watermark, media=media,
                                 ingredients=ingredients, created=created),
        ],
    }
