"""Sample <-> tf.train.Example codec and the sharded parallel writer."""
