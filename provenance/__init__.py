"""Provenance: every file the studio hands out passes through `Publisher.publish`.

publish(artifact, ...) 1. finishes the media (encode, loudness) as it will be handed out,
2. watermarks it (images, video frames), 3. detects (credentials of the inputs, classifier
score of the output), 4. builds and signs the C2PA manifest into the file, 5. records it in
the ledger. Only this package imports c2pa.
"""
