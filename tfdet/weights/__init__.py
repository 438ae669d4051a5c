"""Pretrained weights from files and registry packages: a safe PyTorch checkpoint reader, the name
tables that map foreign checkpoints onto tfdet backbones, and where "imagenet" comes from."""
