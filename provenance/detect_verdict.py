"""The detector's verdicts, as pure functions: score bands, the evidence a Verify report holds,
and the one combined verdict per file, worded honestly.

Evidence that needs no model comes first: intact Content Credentials that declare generative
AI ("AI-generated: its signed credentials say so"), then the studio's own watermark ("AI-generated:
studio watermark"). Only without either does the classifier's band decide: "likely AI-generated",
"unsure" or "no sign of generation found" — never a bare real/fake, because a classifier
saying nothing is not proof that a person made the file. A file the classifier cannot read
gets "cannot judge: <reason>".

What the credentials say and what the classifier scored are always said apart: a file this studio
made is "AI-generated" because its own credentials declare it, not because a classifier found it
so; and the tiny tier's default classifier is a random-weight test model whose score means nothing,
which every line naming it says.
"""
from __future__ import annotations

from dataclasses import dataclass
from pipelines.errors import PresetError
from provenance.manifest import COMPOSITE, TRAINED
from provenance.report import md

CREDENTIALS = "AI-generated: its signed credentials say so"
WATERMARK = "AI-generated: studio watermark"
LIKELY = "likely AI-generated"
UNSURE = "unsure"
NO_SIGN = "no sign of generation found"
CANNOT_JUDGE = "cannot judge"
VERDICTS = (CREDENTIALS, WATERMARK, LIKELY, UNSURE, NO_SIGN)
# IPTC digital source types that say a generative model made or edited the content.
GENERATIVE_SOURCE_TYPES = {TRAINED, COMPOSITE}
_THRESHOLD_KEYS = {"generated_labels", "likely", "unsure_low"}


@dataclass(frozen=True)
class Thresholds:
    """A classifier preset's calibrated bands and which of its labels mean "generated"."""

    generated_labels: tuple[str, ...]
    likely: float
    unsure_low: float

    @classmethod
    def from_preset(cls, preset) -> "Thresholds":
        """Read and check a preset's `detector` table; a wrong table is a `PresetError`."""
        table = dict(preset.detector or {})
        where = f"{preset.task}: preset {preset.name!r} detector table"
        unknown = set(table) - _THRESHOLD_KEYS
        if unknown:
            raise PresetError(f"{where} has unknown keys {sorted(unknown)}; allowed: {sorted(_THRESHOLD_KEYS)}")
        missing = _THRESHOLD_KEYS - set(table)
        if missing:
            raise PresetError(f"{where} lacks {sorted(missing)}")
        labels = table["generated_labels"]
        if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and x for x in labels):
            raise PresetError(f"{where}: generated_labels must be a non-empty list of label names")
        likely, low = table["likely"], table["unsure_low"]
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (likely, low))
        if not numbers or not 0 <= low <= likely <= 1:
            raise PresetError(f"{where}: need 0 <= unsure_low <= likely <= 1 (got {low!r}, {likely!r})")
        return cls(tuple(labels), float(likely), float(low))

    def band(self, score: float) -> str:
        """The verdict words for a classifier score (the probability of "generated")."""
        if score >= self.likely:
            return LIKELY
        if score >= self.unsure_low:
            return UNSURE
        return NO_SIGN

    def check_labels(self, model_labels: list[str], preset_name: str) -> None:
        """Fail clearly when none of the preset's generated labels is one of the model's labels."""
        known = {label.lower() for label in model_labels}
        if not any(label.lower() in known for label in self.generated_labels):
            raise PresetError(f"The detector preset {preset_name!r} calls {list(self.generated_labels)} the "
                              f"“generated” labels, but the model's labels are {model_labels}: fix generated_labels.")

    def score(self, probabilities: dict[str, float]) -> float:
        """P(generated): the summed probability of the generated labels (matched ignoring case)."""
        wanted = {label.lower() for label in self.generated_labels}
        total = sum(p for label, p in probabilities.items() if label.lower() in wanted)
        return min(1.0, max(0.0, float(total)))

    def as_dict(self) -> dict:
        return {"generated_labels": list(self.generated_labels), "likely": self.likely, "unsure_low": self.unsure_low}

    def words(self) -> str:
        """The bands in a line: ≥ likely, the unsure band, below it."""
        return (f"≥ {self.likely:.2f} {LIKELY} · {self.unsure_low:.2f}–{self.likely:.2f} {UNSURE} · "
                f"< {self.unsure_low:.2f} {NO_SIGN}")


def is_test_model(classifier: dict | None) -> bool:
    """Whether a classifier verdict came from a test model (random weights: its score means nothing)."""
    return bool((classifier or {}).get("test_model"))


def classifier_words(classifier: dict | None) -> str:
    """What the classifier said, in a line that names it and says when it is a test model."""
    classifier = classifier or {}
    name = classifier.get("model") or "the classifier"
    test = " — a test model with random weights: its score means nothing" if is_test_model(classifier) else ""
    if classifier.get("score") is None:
        return f"{name}{test}: {classifier.get('verdict') or 'did not run'}"
    return f"{name}{test}: score {classifier['score']:.2f} → {classifier.get('band') or classifier.get('verdict')}"


def publication_verdict(classifier: dict) -> dict:
    """The verdict that goes into an output's manifest: the file is about to carry this studio's
    signed credentials, which declare it AI-generated; the classifier's score sits beside it,
    said apart, and decides nothing."""
    return {"verdict": CREDENTIALS, "flagged": False, "own_output": True, "basis": "credentials",
            "credentials_say": "AI-generated: this studio made the file and its own credentials declare it",
            "classifier_says": classifier_words(classifier),
            "kind": classifier.get("kind"), "score": classifier.get("score"), "model": classifier.get("model"),
            "test_model": is_test_model(classifier), "thresholds": classifier.get("thresholds"),
            "classifier": classifier,
            "evidence": {"credentials": {"state": "signed at publication", "intact": True, "declares_ai": True,
                                         "note": "these Content Credentials, signed by this studio"}}}


def detector_header(image_model: str, image_test: bool, audio_model: str, audio_test: bool) -> str:
    """The page header's line about the detector: which classifiers run, and whether they are test models."""
    if image_test and audio_test:
        names = f"*{image_model}* for pictures and video, *{audio_model}* for sound"
        which = " — test models with random weights: their scores mean nothing"
    else:
        def one(name: str, test: bool) -> str:
            return f"*{name}*" + (" (a test model with random weights: its scores mean nothing)" if test else "")
        names, which = f"{one(image_model, image_test)} for pictures and video, {one(audio_model, audio_test)} " \
                       "for sound", ""
    return (f"Files are also scored by an AI-content classifier: {names}{which}. A score is a guess, not a check "
            "that a file passed.")


def cannot_judge(reason: str) -> str:
    return f"{CANNOT_JUDGE}: {reason}"


def is_cannot_judge(verdict: str | None) -> bool:
    return bool(verdict) and str(verdict).startswith(CANNOT_JUDGE)


# ---------------------------------------------------------------- evidence from a Verify report

def source_types(manifest: dict | None) -> list[str]:
    """The digitalSourceType of every action of a manifest's c2pa.actions assertion."""
    found = []
    for assertion in (manifest or {}).get("assertions", []) or []:
        label = str(assertion.get("label", ""))
        if label != "c2pa.actions" and not label.startswith("c2pa.actions."):
            continue
        for action in ((assertion.get("data") or {}).get("actions") or []):
            kind = action.get("digitalSourceType") if isinstance(action, dict) else None
            if kind and kind not in found:
                found.append(str(kind))
    return found


def evidence_from_report(report) -> dict:
    """What a VerifyReport says without any model: credentials, watermark, ledger (JSON-safe, no paths)."""
    own_creds = report.manifest_source in ("embedded", "sidecar")
    kinds = source_types(report.manifest) if own_creds else []
    signature = ((report.manifest or {}).get("signature_info") or {}) if own_creds else {}
    credentials = {
        "state": report.state,
        "source": report.manifest_source,
        "intact": own_creds and report.state in ("Valid", "Trusted"),
        "declares_ai": any(k in GENERATIVE_SOURCE_TYPES for k in kinds),
        "digital_source_types": [k.rsplit("/", 1)[-1] for k in kinds],
        "issuer": signature.get("issuer") or signature.get("common_name"),
        "development_identity": bool(report.development_identity),
    }
    watermark = {"checked": report.watermark_checked, "found": report.watermark_id is not None,
                 "id": report.watermark_id, "confidence": report.watermark_confidence,
                 "note": report.watermark_note or None}
    record = report.ledger_record or {}
    ledger = {"match": report.ledger_match, "output_id": record.get("id"), "published": record.get("created_at")} \
        if report.ledger_record else None
    return {"credentials": credentials, "watermark": watermark, "ledger": ledger,
            "message": report.message, "state": report.state}


def combine(evidence: dict | None, classifier: dict) -> dict:
    """The one verdict for a file from its Verify evidence (None: not examined) and the classifier.

    `flagged` asks the visitor to confirm before the file is used as an input. This studio's
    own output coming back (intact credentials or its watermark, found in the ledger) is not
    flagged: it is the visitor's own material. Other generated content is.
    """
    creds = (evidence or {}).get("credentials") or {}
    mark = (evidence or {}).get("watermark") or {}
    ledger = (evidence or {}).get("ledger") or {}
    own = bool(ledger) and (creds.get("intact") or ledger.get("match") == "watermark")
    if creds.get("intact") and creds.get("declares_ai"):
        verdict, basis = CREDENTIALS, "credentials"
    elif mark.get("found"):
        verdict, basis = WATERMARK, "watermark"
    else:
        verdict, basis = classifier["verdict"], "classifier"
        if (evidence or {}).get("state") == "Unreadable" and not is_cannot_judge(verdict):
            verdict = cannot_judge((evidence or {}).get("message") or "the file could not be read")
    return {
        "verdict": verdict,
        "flagged": verdict in (CREDENTIALS, WATERMARK, LIKELY) and not own,
        "own_output": own,
        "basis": basis,
        "kind": classifier.get("kind"),
        "score": classifier.get("score"),
        "model": classifier.get("model"),
        "thresholds": classifier.get("thresholds"),
        "classifier": classifier,
        "evidence": {k: v for k, v in (evidence or {}).items() if k in ("credentials", "watermark", "ledger")},
    }


# ---------------------------------------------------------------- words for people

_ICONS = {CREDENTIALS: "🔏", WATERMARK: "💧", LIKELY: "⚠️", UNSURE: "❔", NO_SIGN: "ℹ️"}


def verdict_markdown(verdict: dict, file_name: str = "") -> str:
    """A verdict as a Markdown card: the verdict, then the evidence and the classifier's score
    with its model and bands. Text read from files is escaped."""
    words = str(verdict.get("verdict", ""))
    icon = "⛔" if is_cannot_judge(words) else _ICONS.get(words, "")
    paragraphs = [f"### {icon} {md(words)}" + (f" — {md(file_name)}" if file_name else "")]
    if verdict.get("own_output"):
        paragraphs.append("This file is one of this studio's own outputs (found in its ledger): "
                          "no confirmation is needed to use it.")
    elif verdict.get("flagged"):
        paragraphs.append("**Flagged:** using it as an input needs your confirmation.")
    evidence = verdict.get("evidence") or {}
    lines = []
    creds = evidence.get("credentials") or {}
    if creds.get("state") == "signed at publication":
        lines.append("- **Content Credentials:** this studio's own, signed as the file was made; they declare it "
                     "AI-generated (that is what this verdict rests on, not the classifier).")
    elif creds.get("intact"):
        ai = "declare generative AI" if creds.get("declares_ai") else "do not declare generative AI"
        by = f", signed by {md(creds['issuer'])}" if creds.get("issuer") else ""
        kinds = ", ".join(creds.get("digital_source_types") or []) or "no source type"
        lines.append(f"- **Content Credentials:** intact ({md(creds.get('state'))}){by}; they {ai} ({md(kinds)}).")
    elif creds:
        recovered = " (the originals were recovered from the studio's ledger)" \
            if creds.get("source") == "ledger" else ""
        lines.append(f"- **Content Credentials:** {md(creds.get('state'))}{recovered}")
    mark = evidence.get("watermark") or {}
    if mark.get("checked"):
        found = f"found, id {md(mark.get('id'))}" if mark.get("found") else "not found"
        lines.append(f"- **Studio watermark:** {found}" + (f" — {md(mark['note'])}" if mark.get("note") else ""))
    ledger = evidence.get("ledger") or {}
    if ledger:
        lines.append(f"- **Ledger:** output {md(ledger.get('output_id'))} published {md(ledger.get('published'))} "
                     f"(matched by {md(ledger.get('match'))})")
    lines.append(_classifier_line(verdict.get("classifier") or verdict))
    return "\n\n".join(paragraphs) + "\n\n" + "\n".join(lines)


def _classifier_line(classifier: dict) -> str:
    name = md(classifier.get("model") or "the classifier")
    if is_test_model(classifier):
        name += " — a random-weight test model: its score means nothing"
    if classifier.get("score") is None:
        return f"- **Classifier ({name}):** {md(classifier.get('verdict'))}"
    th = classifier.get("thresholds") or {}
    bands = ""
    if th:
        bands = Thresholds(tuple(th.get("generated_labels") or ()), th["likely"], th["unsure_low"]).words()
    extra = ""
    if classifier.get("frames"):
        extra = f", mean over {classifier['frames']} frames"
    elif classifier.get("windows"):
        extra = f", mean over {classifier['windows']} window(s)"
    what = " or ".join(f"“{md(x)}”" for x in th.get("generated_labels") or []) or "generated"
    return (f"- **Classifier ({name}):** score {classifier['score']:.2f} (probability of {what}{extra}) "
            f"→ {md(classifier.get('band'))}. "
            f"Bands: {bands}" + (f". ⚠️ {md(classifier['note'])}" if classifier.get("note") else ""))
