"""Web pages to OBELICS-style interleaved documents: DOM simplification, linearisation,
node- and document-level filters, dedup keys, image fetch policy. Plain Python, no Beam."""
