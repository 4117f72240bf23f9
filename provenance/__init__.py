"""Provenance: every file the studio hands out passes through `Publisher.publish`.

publish(artifact, ...) 1. finishes the media (encode, loudness) as it will be handed out,
2. watermarks it (images, video frames), 3. detects (credentials of the inputs, classifier
score of the output), 4. builds and signs the C2PA manifest into the file, 5. records it in
the ledger. Only this package imports c2pa.

Modules:
    publish    Publisher, Published: the five steps above, and Publisher.verify
    config     PublishConfig (and PublishConfig.from_env)
    identity   the signing identity: operator credentials or a local development CA
    manifest   manifest definitions as pure functions (dict in, dict out)
    signing    the only c2pa import: sign into a file or a sidecar, read and validate
    watermark  invisible-watermark's dwtDctSvd scheme carrying a 48-bit id
    encode     PNG/JPEG/WebP, H.264+AAC MP4, WAV/MP3/FLAC writing; loudness
    ledger     the provenance table in <data_dir>/studio.sqlite3
    probe      file type from bytes, decoding of files given to Verify
    verify     verify_file -> VerifyReport (report, codes: its rendering and plain words)
"""
