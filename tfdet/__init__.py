"""tfdet: quadrilateral text and object detection for TensorFlow 2 / Keras 3.

Importing the package has no side effects: TensorFlow is only imported by the
modules that need it.
"""

__version__ = "0.1.0"
