"""The signing identity: the operator's certificate chain and key, or a local development one.

With no credentials configured, the first run creates an ES256 CA and a signing certificate
under `<data_dir>/identity/` (key files mode 0600). The CA's private key is kept apart, in
`PublishConfig.ca_dir` (by default `<data_dir>-ca/`, beside the data folder): the data folder
travels to Ray replicas and backups, and a copy of the CA key would let anyone mint signers.
An older data folder that still holds `identity/ca.key` has it moved there on first use.
Its organisation reads "GenMedia Studio development identity (not trusted)" so that every
reader of a signed file can see that it was not signed by a publicly trusted issuer. The private key never leaves this module's objects
except as the argument of the c2pa signer, and never appears in a repr.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pipelines.errors import ProvenanceError
from provenance.config import PublishConfig

log = logging.getLogger(__name__)

DEV_ORGANISATION = "GenMedia Studio development identity (not trusted)"
DEV_MARKER = "development identity"
_CA_DAYS = 3650
_LEAF_DAYS = 365
_RENEW_BEFORE = dt.timedelta(days=30)


@dataclass(frozen=True)
class SigningIdentity:
    """A certificate chain (leaf first) and its private key, ready for the c2pa signer."""

    chain_pem: bytes
    key_pem: bytes = field(repr=False)
    alg: str  # c2pa algorithm name: es256, es384, es512, ps256, ed25519
    subject: str
    issuer: str
    development: bool
    not_after: dt.datetime
    # The chain's root, used as the trust anchor when the studio checks its own files.
    anchor_pem: bytes | None = field(default=None, repr=False)
    tsa_url: str | None = None

    def summary(self) -> dict:
        """Public facts about the identity, safe for the UI and the API (no key material)."""
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "development": self.development,
            "label": "development identity (not trusted)" if self.development else "operator identity",
            "algorithm": self.alg.upper(),
            "expires": self.not_after.isoformat(),
            "timestamp_authority": self.tsa_url,
        }


def load_identity(cfg: PublishConfig) -> SigningIdentity:
    """The operator's identity when configured, otherwise the local development identity."""
    if cfg.cert_chain_path is not None or cfg.cert_chain_pem is not None:
        chain_pem = _read_pem(cfg.cert_chain_path, cfg.cert_chain_pem, "certificate chain")
        key_pem = _read_pem(cfg.key_path, cfg.key_pem, "private key")
        return _identity_from_pem(chain_pem, key_pem, cfg.tsa_url)
    chain_pem, key_pem = ensure_dev_identity(cfg.identity_dir, cfg.ca_dir)
    return _identity_from_pem(chain_pem, key_pem, cfg.tsa_url)


def trust_anchors(cfg: PublishConfig) -> str | None:
    """The CA certificates (PEM) a verifier of this studio trusts: the root of its signing chain
    (the development CA or the operator's self-signed root) and the configured trust files.
    Reads what is there and creates nothing, so verifying never makes keys."""
    pems = []
    if cfg.cert_chain_path is not None or cfg.cert_chain_pem is not None:
        chain = _read_pem(cfg.cert_chain_path, cfg.cert_chain_pem, "certificate chain")
        certs = x509.load_pem_x509_certificates(chain)
        if certs and certs[-1].issuer == certs[-1].subject:
            pems.append(_cert_bytes(certs[-1]).decode())
    elif (cfg.identity_dir / "ca.pem").is_file():
        pems.append((cfg.identity_dir / "ca.pem").read_text())
    pems.append(cfg.trust_anchors_pem or "")
    return "".join(pems) or None


def _read_pem(path: Path | None, text: str | None, what: str) -> bytes:
    if path is not None:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ProvenanceError(f"Cannot read the signing {what} at {path}: {exc.strerror}.") from None
    return text.encode() if isinstance(text, str) else bytes(text)


def _org(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return str(attrs[0].value) if attrs else ""


def _cn(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else name.rfc4514_string()


def _alg_for(key) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        by_curve = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}
        if key.curve.name not in by_curve:
            raise ProvenanceError(f"EC curve {key.curve.name} cannot sign C2PA manifests.")
        return by_curve[key.curve.name]
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise ProvenanceError("The signing key type is not supported by C2PA (use EC P-256, RSA or Ed25519).")


def _identity_from_pem(chain_pem: bytes, key_pem: bytes, tsa_url: str | None) -> SigningIdentity:
    try:
        certs = x509.load_pem_x509_certificates(chain_pem)
    except ValueError:
        raise ProvenanceError("The signing certificate chain is not valid PEM.") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        # The message deliberately says nothing about the key's contents.
        raise ProvenanceError("The signing key is not an unencrypted PEM private key.") from None
    leaf = certs[0]
    if leaf.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) != \
            key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
        raise ProvenanceError("The signing key does not belong to the first certificate of the chain.")
    root = certs[-1]
    anchor = root.public_bytes(serialization.Encoding.PEM) if root.issuer == root.subject else None
    subject_org, issuer_org = _org(leaf.subject), _org(leaf.issuer)
    return SigningIdentity(
        chain_pem=chain_pem,
        key_pem=key_pem,
        alg=_alg_for(key),
        subject=subject_org or _cn(leaf.subject),
        issuer=issuer_org or _cn(leaf.issuer),
        development=DEV_MARKER in (subject_org + issuer_org).lower(),
        not_after=leaf.not_valid_after_utc,
        anchor_pem=anchor,
        tsa_url=tsa_url,
    )


# ----- the development identity ---------------------------------------------------------------

def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, DEV_ORGANISATION)])


def _key_usage(*, sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=sign, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=not sign,
                         crl_sign=not sign, encipher_only=False, decipher_only=False)


def _make_ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    now = dt.datetime.now(dt.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("GenMedia Studio development CA")
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=_CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(sign=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def _make_leaf(ca_key, ca_cert: x509.Certificate) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    now = dt.datetime.now(dt.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    not_after = min(now + dt.timedelta(days=_LEAF_DAYS), ca_cert.not_valid_after_utc)
    cert = (x509.CertificateBuilder().subject_name(_name("GenMedia Studio development signer"))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(sign=True), critical=True)
            # C2PA requires one of a few EKUs on a signing certificate; emailProtection is one.
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


def _key_bytes(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert_bytes(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write_private(path: Path, data: bytes) -> None:
    """Create `path` readable by its owner only; the mode is set at creation, never widened."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _write_dev_files(folder: Path, ca_key, ca_cert, leaf_key, leaf_cert) -> None:
    # ca.key is written here so the folder appears whole; `_move_ca_key` then takes it out.
    _write_private(folder / "ca.key", _key_bytes(ca_key))
    _write_private(folder / "signer.key", _key_bytes(leaf_key))
    (folder / "ca.pem").write_bytes(_cert_bytes(ca_cert))
    (folder / "chain.pem").write_bytes(_cert_bytes(leaf_cert) + _cert_bytes(ca_cert))


def ensure_dev_identity(folder: Path, ca_dir: Path) -> tuple[bytes, bytes]:
    """Return (chain PEM, key PEM) of the development identity, creating or renewing it.

    Creation is atomic: the files are written into a private temporary folder that is renamed
    into place, so two processes starting together end up sharing one identity. The CA's key
    then moves to `ca_dir`, apart from the signer's.
    """
    folder, ca_dir = Path(folder), Path(ca_dir)
    if not (folder / "chain.pem").exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = folder.parent / f".identity-{secrets.token_hex(6)}"
        staging.mkdir(mode=0o700)
        ca_key, ca_cert = _make_ca()
        leaf_key, leaf_cert = _make_leaf(ca_key, ca_cert)
        _write_dev_files(staging, ca_key, ca_cert, leaf_key, leaf_cert)
        try:
            staging.rename(folder)
        except OSError:  # another process won the race; use its identity
            shutil.rmtree(staging, ignore_errors=True)
    _move_ca_key(folder, ca_dir)
    try:
        chain_pem = (folder / "chain.pem").read_bytes()
        key_pem = (folder / "signer.key").read_bytes()
    except OSError as exc:
        raise ProvenanceError(f"The development signing identity in {folder} is incomplete: {exc.strerror}.") from None
    leaf = x509.load_pem_x509_certificates(chain_pem)[0]
    left = leaf.not_valid_after_utc - dt.datetime.now(dt.timezone.utc)
    if left < _RENEW_BEFORE:
        if (ca_dir / "ca.key").is_file():
            chain_pem, key_pem = _renew_leaf(folder, ca_dir)
        elif left.total_seconds() > 0:
            log.warning("The development signing certificate expires in %d days and the CA key to renew it is not "
                        "in %s (setting signing_ca_dir).", left.days, ca_dir)
        else:
            raise ProvenanceError(f"The development signing certificate has expired and the CA key to renew it "
                                  f"is not in {ca_dir} (setting signing_ca_dir).")
    return chain_pem, key_pem


def _move_ca_key(folder: Path, ca_dir: Path) -> None:
    """Move the CA's private key out of the identity folder into `ca_dir` (mode 0700/0600);
    safe when several processes do it at once (each writes the same bytes, then replaces)."""
    old = folder / "ca.key"
    if not old.is_file() or ca_dir.resolve() == folder.resolve():
        return
    ca_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        key = old.read_bytes()
    except FileNotFoundError:  # another process moved it a moment ago
        return
    staging = ca_dir / f".ca-{secrets.token_hex(6)}.key"
    _write_private(staging, key)
    os.replace(staging, ca_dir / "ca.key")
    old.unlink(missing_ok=True)


def _renew_leaf(folder: Path, ca_dir: Path) -> tuple[bytes, bytes]:
    """Issue a fresh signing certificate from the development CA (the CA itself is kept)."""
    ca_key = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate((folder / "ca.pem").read_bytes())
    leaf_key, leaf_cert = _make_leaf(ca_key, ca_cert)
    staging = folder / f".signer-{secrets.token_hex(6)}.key"
    _write_private(staging, _key_bytes(leaf_key))
    chain_pem = _cert_bytes(leaf_cert) + _cert_bytes(ca_cert)
    chain_tmp = folder / f".chain-{secrets.token_hex(6)}.pem"
    chain_tmp.write_bytes(chain_pem)
    os.replace(staging, folder / "signer.key")
    os.replace(chain_tmp, folder / "chain.pem")
    return chain_pem, (folder / "signer.key").read_bytes()
