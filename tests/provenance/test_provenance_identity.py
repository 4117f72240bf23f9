"""Signing identities: the development CA on first run, and operator-configured credentials."""
import datetime as dt
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pipelines.errors import ProvenanceError
from provenance.config import PublishConfig
from provenance.identity import DEV_ORGANISATION, load_identity


def _operator_chain(org="Example News Ltd"):
    """A CA and a leaf certificate as an operator would configure them."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Example Root"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Example Signer"),
                                     x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    return (leaf.public_bytes(pem) + ca.public_bytes(pem)).decode(), key_pem


def test_first_run_creates_a_labelled_development_identity(tmp_path):
    cfg = PublishConfig(data_dir=tmp_path)
    identity = load_identity(cfg)
    assert identity.development and identity.alg == "es256"
    assert identity.subject == DEV_ORGANISATION and "not trusted" in identity.issuer
    for path in (cfg.identity_dir / "signer.key", cfg.ca_dir / "ca.key"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not (cfg.identity_dir / "ca.key").exists()  # the CA key lives apart from the data folder
    again = load_identity(cfg)
    assert again.chain_pem == identity.chain_pem  # reused, not re-created


def test_the_key_stays_out_of_reprs_and_summaries(tmp_path, make_publisher):
    pub = make_publisher()
    key_text = pub.identity.key_pem.decode()
    body = key_text.splitlines()[1]
    for text in (repr(pub), repr(pub.identity), repr(pub.cfg), str(pub.identity_summary())):
        assert "PRIVATE KEY" not in text and body not in text
    summary = pub.identity_summary()
    assert summary["development"] is True and "development identity" in summary["label"]
    assert dt.datetime.fromisoformat(summary["expires"]) > dt.datetime.now(dt.timezone.utc)


def test_operator_credentials_from_the_environment(tmp_path, make_publisher, image_artifact):
    chain, key = _operator_chain()
    env = {"STUDIO_SIGN_CERT_PEM": chain, "STUDIO_SIGN_KEY_PEM": key, "STUDIO_DISCLOSE_PROMPT": "0",
           "STUDIO_IMAGE_FORMAT": "jpg", "STUDIO_C2PA_SIDECAR": "1"}
    cfg = PublishConfig.from_env(tmp_path / "d", environ=env)
    assert cfg.image_format == "jpeg" and cfg.disclose_prompt is False and cfg.sidecar_when_unsigned
    assert key not in repr(cfg)
    identity = load_identity(cfg)
    assert not identity.development and identity.issuer == "Example News Ltd"
    assert not (tmp_path / "d" / "identity").exists()
    pub = make_publisher(data_dir=tmp_path / "d", cert_chain_pem=chain, key_pem=key)
    [out] = pub.publish(image_artifact, task="text_to_image", session_id="s")
    report = pub.verify(out.path)
    assert report.state == "Trusted" and not report.development_identity
    assert report.card["issuer"] == "Example News Ltd"


def test_operator_credentials_from_files(tmp_path):
    chain, key = _operator_chain()
    (tmp_path / "chain.pem").write_text(chain)
    (tmp_path / "key.pem").write_text(key)
    env = {"STUDIO_SIGN_CERT": str(tmp_path / "chain.pem"), "STUDIO_SIGN_KEY": str(tmp_path / "key.pem")}
    identity = load_identity(PublishConfig.from_env(tmp_path / "d", environ=env))
    assert identity.subject == "Example News Ltd"


def test_a_key_that_does_not_match_the_certificate_is_refused(tmp_path):
    chain, _ = _operator_chain()
    _, other_key = _operator_chain()
    with pytest.raises(ProvenanceError, match="does not belong"):
        load_identity(PublishConfig(data_dir=tmp_path, cert_chain_pem=chain, key_pem=other_key))


def test_half_configured_credentials_are_refused(tmp_path):
    with pytest.raises(ProvenanceError, match="both"):
        PublishConfig(data_dir=tmp_path, cert_chain_pem="x")
    with pytest.raises(ProvenanceError):
        PublishConfig.from_env(tmp_path, environ={"STUDIO_DISCLOSE_PROMPT": "maybe"})


def test_an_expiring_development_certificate_is_renewed_from_the_same_ca(tmp_path, monkeypatch):
    import provenance.identity as identity_module
    cfg = PublishConfig(data_dir=tmp_path)
    first = load_identity(cfg)
    monkeypatch.setattr(identity_module, "_RENEW_BEFORE", dt.timedelta(days=400))  # "expires soon"
    renewed = load_identity(cfg)
    assert renewed.chain_pem != first.chain_pem and renewed.anchor_pem == first.anchor_pem
    assert stat.S_IMODE((cfg.identity_dir / "signer.key").stat().st_mode) == 0o600
    assert not list(cfg.identity_dir.glob(".*"))
