"""The golden fixture trees under this folder are inputs to the pipeline, not tests."""

collect_ignore_glob = ["*"]
