"""Training runs: the run folder and its checkpoints, the learning-rate schedule, tf.distribute."""
