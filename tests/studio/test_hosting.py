"""Hosted-demo hardening of the studio core: retention, file access, upload limits."""
import os
import time

import httpx

from studio.gallery import GalleryItem, GalleryStore
from studio.retention import sweep


def test_retention_deletes_old_outputs_and_their_gallery_rows(tmp_path):
    outputs = tmp_path / "outputs"
    (outputs / "sess").mkdir(parents=True)
    old, new = outputs / "sess" / "old.png", outputs / "sess" / "new.png"
    old.write_bytes(b"x")
    new.write_bytes(b"y")
    os.utime(old, (time.time() - 3 * 86400,) * 2)
    gallery = GalleryStore(tmp_path / "db.sqlite3")
    for name, path in (("a", old), ("b", new)):
        gallery.add(GalleryItem(name, "sess", "t", str(path), "image/png", "", {}, time.time()))
    assert sweep(outputs, gallery, max_age_days=2) == 1
    assert not old.exists() and new.exists()
    assert [i.id for i in gallery.list("sess")] == ["b"]
    assert sweep(outputs, gallery, max_age_days=0) == 0   # off


def test_server_does_not_serve_keys_database_or_models(live_url, studio):
    studio.publisher.identity_summary()  # the identity exists on disk
    secrets = [studio.settings.db_path, *sorted((studio.settings.data_dir / "identity").glob("*"))]
    assert secrets
    for path in secrets:
        for route in (f"gradio_api/file={path}", f"file={path}"):
            r = httpx.get(live_url + route, timeout=10)
            assert r.status_code in (403, 404), (route, r.status_code)
            assert b"PRIVATE KEY" not in r.content


def test_uploads_over_the_size_limit_are_refused(live_url, studio):
    too_big = b"\0" * ((studio.settings.max_upload_mb + 1) * 2**20)
    r = httpx.post(live_url + "gradio_api/upload", files={"files": ("big.png", too_big, "image/png")}, timeout=60)
    assert r.status_code == 413
