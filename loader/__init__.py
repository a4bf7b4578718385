"""WebDataset shards to Idefics3 tiles and prompts, batched for CUDA training."""
