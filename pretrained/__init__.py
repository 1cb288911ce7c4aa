"""Published Kinetics checkpoints (PySlowFast, pytorchvideo, MMAction2, keras-kinetics-i3d, DeepMind kinetics-i3d),
read and placed into the project's models for convert_weights.py."""
