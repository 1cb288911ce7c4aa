"""Synthetic scenes for trying the project without a dataset: drawn hands (gestures and the movements
between them), continuous streams of them, and stick figures' keypoints. `synthetic.py` writes them."""
