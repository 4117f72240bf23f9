"""C2PA validation status codes, said in plain words for the Verify report.

The codes are those of the C2PA specification (2.x) as c2pa-rs reports them. A code not in
this table is explained with the reader's own text.
"""
from __future__ import annotations

PLAIN_WORDS: dict[str, str] = {
    "signingCredential.untrusted": (
        "The signer's certificate does not lead to any certificate authority this verifier trusts. "
        "The credentials are intact, but nothing vouches for who signed them."),
    "signingCredential.invalid": "The signer's certificate is malformed or not allowed to sign Content Credentials.",
    "signingCredential.revoked": "The signer's certificate was revoked by its issuer.",
    "signingCredential.expired": (
        "The signer's certificate has expired, and no trusted time stamp shows that it was valid when the file "
        "was signed."),
    "signingCredential.ocsp.revoked": "The certificate authority reports the signer's certificate as revoked.",
    "signingCredential.ocsp.unknown": "The certificate authority does not know the signer's certificate.",
    "claimSignature.mismatch": "The signature does not match the credentials: they were altered after signing.",
    "claimSignature.missing": "The credentials carry no signature.",
    "claimSignature.outsideValidity": "The file was signed outside the period in which the certificate was valid.",
    "assertion.dataHash.mismatch": (
        "The file's content changed after it was signed: its bytes no longer match the signed fingerprint."),
    "assertion.bmffHash.mismatch": (
        "The video's content changed after it was signed: its media data no longer matches the signed fingerprint."),
    "assertion.boxesHash.mismatch": (
        "The file's content changed after it was signed (a signed section no longer matches)."),
    "assertion.collectionHash.mismatch": "A file of the signed collection changed after signing.",
    "assertion.dataHash.malformed": "The fingerprint that binds the credentials to the content is malformed.",
    "assertion.bmffHash.malformed": "The fingerprint that binds the credentials to the video is malformed.",
    "assertion.hashedURI.mismatch": "A statement inside the credentials was changed after signing.",
    "assertion.missing": "A statement the credentials refer to is missing from the file.",
    "assertion.undeclared": "The file carries a statement that the signed claim does not list.",
    "assertion.multipleHardBindings": "The credentials are bound to the content more than once, which is not allowed.",
    "claim.hardBindings.missing": "The credentials are not bound to the file's content at all.",
    "claim.malformed": "The signed claim is malformed.",
    "claim.missing": "The credentials hold no claim.",
    "assertion.action.ingredientMismatch": "An edit step names an ingredient that does not match the recorded ones.",
    "assertion.action.malformed": "The list of edit steps is malformed.",
    "assertion.action.redacted": "The list of edit steps was removed, which the rules forbid.",
    "ingredient.manifest.mismatch": "An ingredient's credentials were changed after they were recorded.",
    "ingredient.hashedURI.mismatch": "An ingredient's record was changed after signing.",
    "manifest.multipleParents": "The credentials name more than one parent file, which is not allowed.",
    "manifest.inaccessible": "The credentials point to a manifest that could not be reached.",
    "manifest.unreadable": "The file carries Content Credentials, but they are damaged and cannot be read.",
    "timeStamp.mismatch": "The trusted time stamp does not match the signature.",
    "timeStamp.untrusted": "The time stamp comes from an authority this verifier does not trust.",
    "timeStamp.outsideValidity": "The time stamp lies outside its authority's validity period.",
    "algorithm.unsupported": "The credentials use a signing or hashing algorithm this verifier does not support.",
    "general.error": "The verifier ran into an error while checking the credentials.",
}

# Shown instead of the raw code in headlines.
STATE_WORDS: dict[str, str] = {
    "Trusted": "Content Credentials are intact and signed by a trusted identity.",
    "Valid": "Content Credentials are intact, but the signer is not on this verifier's trust list.",
    "Invalid": "Content Credentials are present but do not check out: the file or its credentials were changed.",
    "No credentials": "This file carries no Content Credentials.",
    "Unreadable": "This file could not be read.",
}


def explain(code: str, fallback: str | None = None) -> str:
    """Plain words for a validation code; the reader's own explanation when the code is new."""
    if code in PLAIN_WORDS:
        return PLAIN_WORDS[code]
    if fallback:
        return f"{fallback[:1].upper()}{fallback[1:]} (code {code})."
    return f"The verifier reported {code}."
