"""A small, deterministic demo corpus made entirely by this package's own code.

It holds one of each kind of input the pipelines take (digital and scanned
PDFs, page images, broken PDFs, a Common Crawl style WARC, files shaped like
the Cauldron sources) together with the facts needed to check the pipelines'
output against them (ground-truth text, expected rejects), so that `make demo`
and the tests run on a fresh machine without downloading anything.
"""
