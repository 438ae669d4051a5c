"""Core-TF geometry ops shared by the input pipeline, post-processing and export."""
