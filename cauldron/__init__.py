"""The Cauldron: row schema, one converter per subset, decontamination against benchmark
images. Plain Python, no Beam."""
