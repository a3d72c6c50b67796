"""Embed picture files and photos with a model, locally from a checkpoint or through a Triton server, the same
way, and search them by expression: what fec-embed runs.

- `fec.embedding.pictures`: face crops (one face per picture) -> embeddings; `.npy` / `.jsonl` files.
- `fec.embedding.photos`: photos (any number of faces, found by the detector) -> one record per face.
- `fec.embedding.retrieval`: the nearest expressions to a query, and contact sheets of them.
"""
