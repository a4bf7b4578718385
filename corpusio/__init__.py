"""Plain-Python I/O shared by every stage: keys, WebDataset shards, rejects and manifests.

Nothing here imports apache_beam, so the loader, the tests and small scripts
can use it directly; pipelines/ wraps it for Beam.
"""
