"""fec: compact facial-expression embeddings (FECNet) from training to serving."""

__version__ = "0.3.0"
