"""Trust and time: the operator's trust files make other signers "Trusted"; an RFC 3161
timestamp authority (here `openssl ts` behind a loopback HTTP port) dates every signature, so
it outlives the signing certificate; the development CA's key lives apart from the data folder."""
from __future__ import annotations

import datetime as dt
import http.server
import stat
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image

from pipelines.errors import ProvenanceError
from pipelines.media import ImageArtifact
from provenance.config import PublishConfig
from provenance.identity import load_identity, trust_anchors
from provenance.signing import read_credentials
from provenance.verify import verify_file

# The timestamp authority's own certificate: RFC 3161 wants the timeStamping usage, critical.
_TSA_EXTENSIONS = """
[tsa_cert]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = critical,timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""
_TS_CONFIG = """
[tsa]
default_tsa = local
[local]
serial = {d}/serial
signer_cert = {d}/tsa.pem
certs = {d}/root.pem
signer_key = {d}/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


class _TimestampHandler(http.server.BaseHTTPRequestHandler):
    """RFC 3161 over HTTP: the request body is piped through `openssl ts -reply`."""

    def log_message(self, *args):
        pass

    def do_POST(self):  # noqa: N802 - http.server's naming
        query = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append(self.headers.get("Content-Type"))
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "q.tsq").write_bytes(query)
            _openssl("ts", "-reply", "-config", str(self.server.folder / "ts.cnf"), "-queryfile",
                     str(Path(tmp) / "q.tsq"), "-out", str(Path(tmp) / "r.tsr"))
            reply = (Path(tmp) / "r.tsr").read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/timestamp-reply")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


@pytest.fixture(scope="module")
def tsa(tmp_path_factory):
    """A local timestamp authority: `.url`, `.root` (its CA, PEM file), `.requests`."""
    d = tmp_path_factory.mktemp("tsa")
    (d / "ext.cnf").write_text(_TSA_EXTENSIONS)
    ec_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    _openssl("req", "-x509", *ec_key, "-keyout", str(d / "root.key"), "-out", str(d / "root.pem"), "-days", "3",
             "-subj", "/CN=Test TSA Root/O=Test", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    _openssl("req", "-new", *ec_key, "-keyout", str(d / "tsa.key"), "-out", str(d / "tsa.csr"),
             "-subj", "/CN=Test TSA/O=Test")
    _openssl("x509", "-req", "-in", str(d / "tsa.csr"), "-CA", str(d / "root.pem"), "-CAkey", str(d / "root.key"),
             "-CAcreateserial", "-out", str(d / "tsa.pem"), "-days", "2", "-extfile", str(d / "ext.cnf"),
             "-extensions", "tsa_cert")
    (d / "serial").write_text("01\n")
    (d / "ts.cnf").write_text(_TS_CONFIG.format(d=d))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TimestampHandler)
    server.daemon_threads = True
    server.folder, server.requests, server.root = d, [], d / "root.pem"
    server.url = f"http://127.0.0.1:{server.server_address[1]}/tsa"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _operator_chain(lifetime: dt.timedelta = dt.timedelta(days=30)) -> tuple[str, str, str]:
    """(chain PEM, key PEM, root PEM) of an operator's CA and signing certificate."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Example Root"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example News Ltd")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Example Signer"),
                                     x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example News Ltd")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + lifetime)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    return (leaf.public_bytes(pem) + ca.public_bytes(pem)).decode(), key_pem, ca.public_bytes(pem).decode()


def _publish(pub, picture, seed: int = 0):
    [out] = pub.publish(ImageArtifact(Image.fromarray(picture(256, 256, seed=seed)), {"seed": seed}),
                        task="text_to_image", session_id="s")
    return out


@pytest.mark.parametrize("setting", ["trust_anchors_file", "trust_list_file"])
def test_a_trust_file_makes_an_operators_files_trusted(make_publisher, picture, tmp_path, setting):
    chain, key, root = _operator_chain()
    signed = _publish(make_publisher(data_dir=tmp_path / "newsroom", cert_chain_pem=chain, key_pem=key), picture)
    (tmp_path / "anchors.pem").write_text(root)

    stranger = make_publisher(data_dir=tmp_path / "verifier").verify(signed.path)
    assert stranger.state == "Valid" and "signingCredential.untrusted" in dict(stranger.failures)
    trusting = make_publisher(data_dir=tmp_path / "verifier", **{setting: tmp_path / "anchors.pem"})
    report = trusting.verify(signed.path)
    assert report.state == "Trusted" and not report.development_identity
    assert report.card["issuer"] == "Example News Ltd"
    # `studio verify` reads the same anchors without making a publisher
    cfg = PublishConfig(data_dir=tmp_path / "verifier", **{setting: tmp_path / "anchors.pem"})
    assert verify_file(signed.path, None, trust_anchors(cfg)).state == "Trusted"


def test_unreadable_trust_files_are_refused_with_the_reason(tmp_path):
    (tmp_path / "empty.pem").write_text("no certificates here")
    with pytest.raises(ProvenanceError, match="holds no PEM certificates"):
        PublishConfig(data_dir=tmp_path, trust_list_file=tmp_path / "empty.pem")
    with pytest.raises(ProvenanceError, match="Cannot read the trust file"):
        PublishConfig.from_env(tmp_path, environ={"STUDIO_TRUST_ANCHORS_FILE": str(tmp_path / "missing.pem")})


def test_a_timestamp_authority_dates_every_signature(make_publisher, picture, tsa):
    before = len(tsa.requests)
    out = _publish(make_publisher(tsa_url=tsa.url), picture)
    assert tsa.requests[before:] == ["application/timestamp-query"]
    report = make_publisher(tsa_url=tsa.url).verify(out.path)
    assert report.state == "Trusted" and report.card["signed_at"]
    creds = read_credentials(out.path, "image/png", anchors_pem=load_identity(make_publisher().cfg).anchor_pem.decode()
                             + tsa.root.read_text())
    codes = {s["code"] for s in creds.results["activeManifest"]["success"]}
    assert {"timeStamp.validated", "timeStamp.trusted"} <= codes


def test_a_timestamped_signature_outlives_its_certificate(make_publisher, picture, tmp_path, tsa):
    chain, key, root = _operator_chain(lifetime=dt.timedelta(seconds=3))
    stamped = _publish(make_publisher(data_dir=tmp_path / "a", cert_chain_pem=chain, key_pem=key, tsa_url=tsa.url),
                       picture, seed=1)
    unstamped = _publish(make_publisher(data_dir=tmp_path / "b", cert_chain_pem=chain, key_pem=key), picture, seed=2)
    expiry = x509.load_pem_x509_certificates(chain.encode())[0].not_valid_after_utc
    time.sleep(max(0.0, (expiry - dt.datetime.now(dt.timezone.utc)).total_seconds()) + 1.2)
    # the verifier trusts the operator's root and the timestamp authority's
    (tmp_path / "root.pem").write_text(root + tsa.root.read_text())
    verifier = make_publisher(data_dir=tmp_path / "v", trust_anchors_file=tmp_path / "root.pem")
    assert verifier.verify(stamped.path).state == "Trusted"
    late = verifier.verify(unstamped.path)
    assert late.state == "Invalid" and "signingCredential.expired" in dict(late.failures)


def test_the_development_ca_key_is_moved_out_of_an_old_data_folder(tmp_path):
    cfg = PublishConfig(data_dir=tmp_path / "data", signing_ca_dir=tmp_path / "keys" / "ca")
    first = load_identity(cfg)
    assert (cfg.ca_dir / "ca.key").is_file() and not (cfg.identity_dir / "ca.key").exists()
    # an older studio kept the CA key beside the signer's: it moves on first use
    (cfg.ca_dir / "ca.key").rename(cfg.identity_dir / "ca.key")
    again = load_identity(cfg)
    assert again.chain_pem == first.chain_pem
    assert not (cfg.identity_dir / "ca.key").exists()
    assert stat.S_IMODE((cfg.ca_dir / "ca.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(cfg.ca_dir.stat().st_mode) == 0o700
    assert PublishConfig(data_dir=tmp_path / "data").ca_dir == tmp_path / "data-ca"  # the default: beside it


def test_settings_reach_the_publisher(tmp_path, tsa):
    from studio.settings import load_settings

    settings = load_settings(env={"STUDIO_TSA_URL": tsa.url, "STUDIO_TRUST_LIST_FILE": str(tsa.root),
                                  "STUDIO_REMOTE_MANIFESTS": "0"}, data_dir=tmp_path)
    cfg = PublishConfig.from_env(tmp_path, environ={}, **settings.publish_overrides())
    assert cfg.tsa_url == tsa.url and tsa.root.read_text() in cfg.trust_anchors_pem and not cfg.remote.fetch
