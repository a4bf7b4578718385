"""`make bench`: throughput of our stages as ratios against the bare library doing the same work.

Each benchmark runs both sides in the same process on the same data and
reports items/s for each and the ratio, so numbers from different machines
stay comparable.
"""
