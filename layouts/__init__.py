"""Dataset layouts as downloaded: what they share, the gesture sets, the action sets."""
