"""The Verify report: what was found in a file, as data, as CLI lines and as a Markdown card.

Everything shown here may come from a file a stranger uploaded, so text taken from a
manifest is escaped before it goes into Markdown, and the report never holds key material,
server paths or other visitors' session ids.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from provenance.manifest import COMPOSITE, GENERATION_LABEL, TRAINED, WATERMARK_ALG, json_safe

_SOURCE_WORDS = {TRAINED: "made by a generative model", COMPOSITE: "edited or assembled with a generative model"}
_MAX_DEPTH = 8


def _assertion(manifest: dict | None, prefix: str) -> dict | None:
    for item in (manifest or {}).get("assertions", []) or []:
        label = str(item.get("label", ""))
        if label == prefix or label.startswith(prefix + "."):
            data = item.get("data")
            return data if isinstance(data, dict) else None
    return None


def generation_data(manifest: dict | None) -> dict:
    """The studio's own assertion of a manifest ({} when absent)."""
    return _assertion(manifest, GENERATION_LABEL) or {}


def watermark_regions(manifest: dict | None) -> list[tuple[int, int, int, int]]:
    """The pixel rectangles (x, y, width, height) in which the manifest's soft bindings say the
    studio's image watermark lives (a fill marks only what it generated); [] for a whole picture."""
    boxes = []
    for item in (manifest or {}).get("assertions", []) or []:
        data = item.get("data") if str(item.get("label", "")).split(".v")[0] == "c2pa.soft-binding" else None
        if not isinstance(data, dict) or data.get("alg") != WATERMARK_ALG:
            continue
        for block in data.get("blocks") or []:
            for rng in ((((block or {}).get("scope") or {}).get("region") or {}).get("region") or []):
                shape = (rng or {}).get("shape") or {}
                origin = shape.get("origin") or {}
                try:
                    boxes.append((int(origin["x"]), int(origin["y"]), int(shape["width"]), int(shape["height"])))
                except (KeyError, TypeError, ValueError):
                    continue  # a malformed region names nothing to read
    return boxes


def is_development(manifest: dict | None) -> bool:
    """Whether a manifest was signed by a development identity (by its certificate's names)."""
    info = (manifest or {}).get("signature_info") or {}
    names = f"{info.get('issuer', '')} {info.get('common_name', '')}".lower()
    return "development identity" in names


def card_from_manifest(manifest: dict) -> dict:
    """The facts a person wants from a manifest, flattened into a small dict."""
    info = manifest.get("signature_info") or {}
    gen = generation_data(manifest)
    tools = manifest.get("claim_generator_info") or []
    tool = " ".join(str(tools[0].get(k, "")) for k in ("name", "version")).strip() if tools else ""
    model = gen.get("model") or {}
    actions = []
    for action in (_assertion(manifest, "c2pa.actions") or {}).get("actions", []) or []:
        name = str(action.get("action", "")).removeprefix("c2pa.")
        source = _SOURCE_WORDS.get(action.get("digitalSourceType"))
        actions.append(f"{name} ({source})" if source else name)
    return {
        "title": manifest.get("title"),
        "issuer": info.get("issuer") or info.get("common_name"),
        "signer": info.get("common_name"),
        "signed_at": info.get("time"),
        "created": gen.get("created"),
        "tool": tool or None,
        "task": gen.get("task"),
        "model": model.get("id") or model.get("name"),
        "model_revision": model.get("revision"),
        "license": model.get("license"),
        "prompt": gen.get("prompt"),
        "prompt_sha256": gen.get("prompt_sha256"),
        "actions": actions,
        "watermark_id": (gen.get("watermark") or {}).get("id"),
        "detector_at_publication": gen.get("detector"),
    }


def ingredient_tree(manifest: dict | None, store: dict | None, depth: int = 0) -> list[dict]:
    """The ingredients of a manifest, each with its own ingredients when its manifest is known."""
    if not manifest or depth >= _MAX_DEPTH:
        return []
    manifests = (store or {}).get("manifests") or {}
    nodes = []
    for ing in manifest.get("ingredients", []) or []:
        child = manifests.get(ing.get("active_manifest")) if ing.get("active_manifest") else None
        failures = ((ing.get("validation_results") or {}).get("activeManifest") or {}).get("failure") or []
        nodes.append({
            "title": ing.get("title"),
            "relationship": ing.get("relationship"),
            "format": ing.get("format"),
            "has_credentials": child is not None,
            "issuer": ((child or {}).get("signature_info") or {}).get("issuer"),
            "problems": [f.get("code") for f in failures if f.get("code")],
            "ingredients": ingredient_tree(child, store, depth + 1),
        })
    return nodes


def md(text: Any, limit: int = 300) -> str:
    """Escape text for Markdown (it may come from an uploaded file) and cap its length."""
    value = " ".join(str(text).split())
    if len(value) > limit:
        value = value[:limit - 1] + "…"
    return re.sub(r"([\\`*_{}\[\]()<>#+!|~])", r"\\\1", value)


def code(text: Any) -> str:
    """An identifier (status code, id) for a Markdown code span: safe characters only."""
    return "`" + re.sub(r"[^A-Za-z0-9_.:-]", "", str(text))[:80] + "`"


@dataclass
class VerifyReport:
    """Everything Verify found out about one file."""

    file_name: str
    state: str  # Trusted | Valid | Invalid | No credentials | Unreadable
    message: str = ""
    mime: str | None = None
    size_bytes: int | None = None
    sha256: str | None = None
    failures: list[tuple[str, str]] = field(default_factory=list)
    manifest: dict | None = None  # the active manifest (embedded, sidecar or recovered)
    manifest_source: str | None = None  # embedded | sidecar | ledger
    ingredients: list[dict] = field(default_factory=list)
    development_identity: bool = False
    watermark_checked: bool = False
    watermark_id: str | None = None
    watermark_confidence: float | None = None
    watermark_note: str = ""
    ledger_record: dict | None = None  # public fields of the matching ledger row
    ledger_match: str | None = None  # watermark | exact copy
    verdict: dict | None = None  # the detector's verdict on this file, when one ran
    # Credentials the file says are stored at a URL: url, host, fetched, problem (provenance.remote_manifest)
    remote_manifest: dict | None = None

    @property
    def card(self) -> dict:
        return card_from_manifest(self.manifest) if self.manifest else {}

    def to_dict(self) -> dict:
        """A JSON-safe dict of the report (no key material, no server paths)."""
        return {
            "file": self.file_name, "state": self.state, "message": self.message, "mime": self.mime,
            "size_bytes": self.size_bytes, "sha256": self.sha256,
            "failures": [{"code": c, "explanation": e} for c, e in self.failures],
            "development_identity": self.development_identity,
            "manifest_source": self.manifest_source, "card": self.card, "ingredients": self.ingredients,
            "watermark": {"checked": self.watermark_checked, "found": self.watermark_id is not None,
                          "id": self.watermark_id, "confidence": self.watermark_confidence,
                          "note": self.watermark_note},
            "ledger": {"match": self.ledger_match, "record": self.ledger_record} if self.ledger_record else None,
            "detector": json_safe(self.verdict) if self.verdict is not None else None,
            "manifest": self.manifest,
            "remote_manifest": self.remote_manifest,
        }

    def _identity_words(self) -> str:
        if not self.development_identity or self.manifest_source not in ("embedded", "sidecar"):
            return ""
        return " (development identity: not trusted outside this studio)"

    def summary_lines(self) -> list[str]:
        """The report as short lines of plain text, for a command line."""
        lines = [f"{self.file_name}: {self.state}{self._identity_words()}", f"  {self.message}"]
        for code, words in self.failures:
            lines.append(f"  - {code}: {words}")
        if self.remote_manifest:
            lines.append(f"  remote credentials: {self.remote_manifest['url']}"
                         + (f" ({self.remote_manifest['problem']})" if self.remote_manifest.get("problem") else ""))
        card = self.card
        if card:
            source = {"ledger": " (recovered from the ledger)", "sidecar": " (sidecar)",
                      "remote": " (fetched from its URL)"}.get(self.manifest_source, "")
            lines.append(f"  manifest{source}: {card.get('title') or ''}")
            for key in ("issuer", "tool", "task", "model", "license", "created", "signed_at"):
                if card.get(key):
                    lines.append(f"    {key}: {card[key]}")
            if card.get("actions"):
                lines.append(f"    actions: {', '.join(card['actions'])}")
        lines.extend(f"  ingredient: {line}" for line in _tree_lines(self.ingredients, plain=True))
        if self.watermark_checked:
            lines.append(f"  watermark: {self.watermark_id or 'not found'}"
                         + (f" ({self.watermark_note})" if self.watermark_note else ""))
        if self.ledger_record:
            lines.append(f"  ledger: output {self.ledger_record['id']} of {self.ledger_record['created_at']}"
                         f" (matched by {self.ledger_match})")
        if self.verdict is not None:
            lines.append(f"  detector: {self.verdict}")
        return lines

    def card_markdown(self) -> str:
        """The report as a Markdown card for the UI."""
        icon = {"Trusted": "✅", "Valid": "☑️", "Invalid": "❌", "No credentials": "ℹ️",
                "Remote credentials": "🌐"}.get(self.state, "⛔")
        identity = self._identity_words().strip(" ()")
        out = [f"### {icon} {self.state}" + (f" — {md(identity)}" if identity else ""), md(self.message, 600)]
        if self.failures:
            out.append("**What did not check out**")
            out.extend(f"- {code(c)}: {md(words, 400)}" for c, words in self.failures)
        if self.remote_manifest:
            problem = self.remote_manifest.get("problem")
            out.append(f"**Remote credentials:** stored at {md(self.remote_manifest['host'])}"
                       + (f" — {md(problem)}" if problem else " — fetched and checked"))
        card = self.card
        if card:
            if self.manifest_source == "ledger":
                out.append("*The file's own credentials are gone; these are the originals from the studio's ledger.*")
            rows = [("Title", card.get("title")), ("Signed by", card.get("issuer")), ("Tool", card.get("tool")),
                    ("Task", card.get("task")), ("Model", _model_words(card)), ("License", card.get("license")),
                    ("Created", card.get("created")), ("Time-stamped", card.get("signed_at")),
                    ("Prompt", card.get("prompt")),
                    ("Prompt (SHA-256 only)", card.get("prompt_sha256")),
                    ("Actions", ", ".join(card.get("actions") or []) or None),
                    ("Detector at publication", _verdict_words(card["detector_at_publication"])
                     if isinstance(card.get("detector_at_publication"), dict) else None)]
            out.extend(f"- **{name}:** {md(value)}" for name, value in rows if value)
        if self.ingredients:
            out.append("**Ingredients**")
            out.extend(_tree_lines(self.ingredients, plain=False))
        if self.watermark_checked:
            found = f"found, id {code(self.watermark_id)}" if self.watermark_id else "not found"
            out.append(f"**Watermark:** {found}" + (f" — {md(self.watermark_note)}" if self.watermark_note else ""))
        if self.ledger_record:
            out.append(f"**Ledger:** matches output {code(self.ledger_record['id'])} published "
                       f"{md(self.ledger_record['created_at'])} (by {md(self.ledger_match)})")
        if self.verdict is not None:
            out.append(f"**Detector:** {md(_verdict_words(self.verdict))}")
        return "\n\n".join(out)


def _model_words(card: dict) -> str | None:
    if not card.get("model"):
        return None
    return f"{card['model']} @ {card['model_revision']}" if card.get("model_revision") else str(card["model"])


def _verdict_words(verdict: dict) -> str:
    """The detector's verdict in a line: its words, then, said apart, what the classifier scored
    (naming a test model as such)."""
    from provenance.detect_verdict import classifier_words  # detect_verdict imports this module

    if "verdict" not in verdict:  # an older or foreign record: show what is there
        return ", ".join(f"{k}: {v}" for k, v in verdict.items() if not isinstance(v, (dict, list)))
    if verdict.get("basis") in ("credentials", "watermark") and isinstance(verdict.get("classifier"), dict):
        said = verdict.get("credentials_say") or verdict["verdict"]
        return f"{said}. Classifier, which decided nothing here: {classifier_words(verdict['classifier'])}"
    extra = []
    if isinstance(verdict.get("score"), (int, float)):
        extra.append(f"score {verdict['score']:.2f}")
    if verdict.get("model"):
        extra.append(f"model {verdict['model']}")
    return str(verdict["verdict"]) + (f" ({', '.join(extra)})" if extra else "")


def _tree_lines(nodes: list[dict], *, plain: bool, depth: int = 0) -> list[str]:
    lines = []
    for node in nodes:
        signed = "with credentials" if node.get("has_credentials") else "no credentials"
        text = f"{node.get('title') or '(untitled)'} [{node.get('relationship')}, {signed}]"
        if node.get("problems"):
            text += f" problems: {', '.join(node['problems'])}"
        lines.append(("  " * depth + text) if plain else ("  " * depth + f"- {md(text)}"))
        lines.extend(_tree_lines(node.get("ingredients") or [], plain=plain, depth=depth + 1))
    return lines
