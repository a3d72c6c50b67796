"""Inception NN2 and Inception-ResNet-v1 backbones (being written)."""
