"""Where lines come from: stdin now, tailed files in ``file`` (with rotation and offsets)."""
