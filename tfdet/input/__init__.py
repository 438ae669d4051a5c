"""tf.data input: parse records, augment, resize, and build anchor targets."""
