"""A prepared clip's files: frames, flow, keypoints, and the DATA_DIR index."""
