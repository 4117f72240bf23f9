"""Remote manifests: credentials a file names by URL are fetched (https only, no redirects,
a deadline, a size cap, the operator's switch) and validated against the file's bytes.

A loopback HTTPS server with a self-signed certificate (made by `openssl`) stands in for the
credential store; the test trusts it through the policy's CA file, as an operator with a
private PKI would. Every case goes through `Publisher.verify`, the Verify tab's path.
"""
from __future__ import annotations

import dataclasses
import http.server
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from provenance.remote_manifest import RemotePolicy, find_reference
from provenance.signing import sign

_HUGE = 100 * 1024 * 1024
_MANIFEST = {"claim_generator_info": [{"name": "remote-test", "version": "1"}], "title": "remote.png",
             "assertions": [{"label": "c2pa.actions", "data": {"actions": [{
                 "action": "c2pa.created",
                 "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"}]}}]}


class _Handler(http.server.BaseHTTPRequestHandler):
    """Routes: /<name> serves server.files[name]; /moved, /hang, /huge, /huge-unsized misbehave."""

    protocol_version = "HTTP/1.0"

    def log_message(self, *args):  # quiet test output
        pass

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.server.hits.append(self.path)
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "https://elsewhere.example/m.c2pa")
            self.end_headers()
        elif self.path == "/hang":
            self.server.release.wait(10)
        elif self.path in ("/huge", "/huge-unsized"):
            self.send_response(200)
            if self.path == "/huge":
                self.send_header("Content-Length", str(_HUGE))
            self.end_headers()
            self._stream_zeros()
        elif self.path.lstrip("/") in self.server.files:
            body = self.server.files[self.path.lstrip("/")]
            self.send_response(200)
            self.send_header("Content-Type", "application/c2pa")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_error(404)

    def _stream_zeros(self):
        block = bytes(1 << 20)
        try:
            for _ in range(_HUGE // len(block)):
                self.wfile.write(block)
        except OSError:  # the verifier hung up at its size cap, as it should
            pass


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, made with openssl."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
    return cert, key


@pytest.fixture(scope="module")
def store(tls_cert):
    """The loopback HTTPS credential store: `.url(name)`, `.files`, `.hits`."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*map(str, tls_cert))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.files, server.hits, server.release = {}, [], threading.Event()
    server.url = lambda name: f"https://127.0.0.1:{server.server_address[1]}/{name}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def policy(tls_cert) -> RemotePolicy:
    """Fetching on, this test's CA trusted, loopback allowed, a short deadline."""
    return RemotePolicy(fetch=True, timeout_s=1.0, ca_file=tls_cert[0], allow_private=True)


@pytest.fixture
def signed(make_publisher, picture, tmp_path, policy):
    """make(name, url, embed=False) -> (publisher, the signed file, its manifest store bytes)."""

    def make(name: str, url: str, *, embed: bool = False, pol: RemotePolicy = policy):
        pub = make_publisher(remote=pol)
        src = tmp_path / f"{name}-src.png"
        Image.fromarray(picture(96, 96, seed=len(name))).save(src)
        dst = tmp_path / f"{name}.png"
        data = sign(src, dst, "image/png", _MANIFEST, pub.identity, sidecar=not embed, remote_url=url)
        return pub, dst, data

    return make


def test_a_remote_manifest_is_fetched_and_validated_against_the_file(store, signed):
    pub, path, data = signed("ok", store.url("ok.c2pa"))
    store.files["ok.c2pa"] = data
    assert find_reference(path) == store.url("ok.c2pa")
    report = pub.verify(path)
    assert report.state == "Trusted" and report.manifest_source == "remote"
    assert "stored at 127.0.0.1" in report.message
    assert report.remote_manifest["fetched"] and report.card["title"] == "remote.png"
    assert report.to_dict()["remote_manifest"]["host"] == "127.0.0.1"


def test_credentials_of_another_file_do_not_check_out(store, signed):
    _, _, other = signed("other", store.url("other.c2pa"))
    pub, path, _ = signed("swapped", store.url("swapped.c2pa"))
    store.files["swapped.c2pa"] = other
    report = pub.verify(path)
    assert report.state == "Invalid" and report.manifest_source == "remote"
    assert any("dataHash.mismatch" in code for code, _ in report.failures)


def test_with_fetching_off_the_file_still_says_where_its_credentials_are(store, signed, policy):
    pub, path, data = signed("off", store.url("off.c2pa"), pol=dataclasses.replace(policy, fetch=False))
    store.files["off.c2pa"] = data
    before = len(store.hits)
    report = pub.verify(path)
    assert report.state == "Remote credentials" and "no content credentials" not in report.message.lower()
    assert "stored at 127.0.0.1" in report.message and "turned it off" in report.message
    assert [c for c, _ in report.failures] == ["manifest.inaccessible"]
    assert len(store.hits) == before  # nothing was fetched
    assert any("remote credentials:" in line for line in report.summary_lines())


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(("url", "words"), [
    ("http://127.0.0.1/m.c2pa", "not https"),
    ("https://127.0.0.1:{closed}/m.c2pa", "could not be reached"),
    ("{store}moved", "redirected to elsewhere.example; redirects are not followed"),
    ("{store}hang", "did not answer within 1 s"),
    ("{store}huge", "larger than 10 MB"),
    ("{store}huge-unsized", "larger than 10 MB; the download was stopped"),
    ("{store}missing.c2pa", "HTTP 404"),
])
def test_bad_remote_addresses_get_a_clear_message_within_the_deadline(store, signed, url, words):
    url = url.format(closed=_closed_port(), store=store.url(""))
    pub, path, _ = signed("bad", url)
    started = time.monotonic()
    report = pub.verify(path)
    assert time.monotonic() - started < 4  # the deadline is 1 s; generous for a busy machine
    assert report.state == "Remote credentials", report.message
    assert words in report.message and "stored at" in report.message


def test_private_addresses_and_untrusted_certificates_are_refused(store, signed, policy):
    pub, path, data = signed("private", store.url("private.c2pa"), pol=dataclasses.replace(policy, allow_private=False))
    store.files["private.c2pa"] = data
    assert "private or local network" in pub.verify(path).message
    pub, path, _ = signed("untrusted", store.url("private.c2pa"), pol=dataclasses.replace(policy, ca_file=None))
    assert "certificate is not trusted" in pub.verify(path).message


def test_embedded_credentials_are_read_and_the_remote_copy_named(store, signed):
    pub, path, data = signed("both", store.url("both.c2pa"), embed=True)
    store.files["both.c2pa"] = data
    before = len(store.hits)
    report = pub.verify(path)
    assert report.state == "Trusted" and report.manifest_source == "embedded"
    assert report.remote_manifest["url"] == store.url("both.c2pa") and not report.remote_manifest["fetched"]
    assert "embedded credentials were read" in report.remote_manifest["problem"]
    assert len(store.hits) == before


def test_policy_from_the_environment():
    from provenance.config import _flag

    pol = RemotePolicy.from_env({"STUDIO_REMOTE_MANIFESTS": "0", "STUDIO_REMOTE_MANIFEST_TIMEOUT_S": "2.5",
                                 "STUDIO_REMOTE_MANIFEST_MAX_MB": "1"}, _flag)
    assert (pol.fetch, pol.timeout_s, pol.max_bytes, pol.allow_private) == (False, 2.5, 1 << 20, False)



def test_an_offline_verifier_says_it_could_not_fetch_them_within_the_deadline(signed, monkeypatch):
    import socket as socket_module

    def slow_resolver(*args, **kwargs):  # an offline machine's resolver, waiting on a DNS server
        time.sleep(10)
        raise socket_module.gaierror("Temporary failure in name resolution")

    monkeypatch.setattr(socket_module, "getaddrinfo", slow_resolver)
    pub, path, _ = signed("offline", "https://credentials.example/m.c2pa")
    started = time.monotonic()
    report = pub.verify(path)
    assert time.monotonic() - started < 5  # the deadline is 1 s; the resolver would take 10
    assert report.state == "Remote credentials" and "no content credentials" not in report.message.lower()
    assert "stored at credentials.example" in report.message
    assert "could not be found within 1 s (is this verifier online?)" in report.message


def test_studio_verify_fetches_with_the_operators_settings(store, signed, tls_cert):
    import json
    import os
    import subprocess
    import sys

    pub, path, data = signed("cli", store.url("cli.c2pa"))
    store.files["cli.c2pa"] = data
    env = {**os.environ, "STUDIO_DATA_DIR": str(pub.cfg.data_dir), "STUDIO_REMOTE_MANIFEST_CA_FILE": str(tls_cert[0]),
           "STUDIO_REMOTE_MANIFEST_PRIVATE_HOSTS": "1", "STUDIO_REMOTE_MANIFEST_TIMEOUT_S": "2"}
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "studio.cli", "verify", str(path)], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)
    line = json.loads(done.stdout)
    assert done.returncode == 0, done.stderr
    assert line["state"] == "Trusted" and line["manifest_source"] == "remote" and line["remote_manifest"]["fetched"]


def test_a_reference_across_the_scan_chunks_is_read_whole(tmp_path):
    from provenance import remote_manifest

    url = "https://credentials.example/" + "a" * 1500
    for offset in (remote_manifest._SCAN_CHUNK - 30, remote_manifest._SCAN_CHUNK - 800):
        (tmp_path / "big.bin").write_bytes(b"x" * offset + f'dcterms:provenance="{url}"'.encode() + b"y" * 100)
        assert find_reference(tmp_path / "big.bin") == url
