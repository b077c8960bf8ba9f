"""Where lines come from: stdin, or a tailed ``file`` (rotation, offsets), opened only as
``tailed_path`` allows (symlinks as configured, regular files only)."""
