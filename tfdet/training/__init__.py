"""Custom training loop under tf.distribute: config, strategy, schedule, checkpoints, logging."""
