"""Python sources: libcst for structure and positions, ``ast`` for facts, a tokenizer for
files libcst cannot parse."""

from pipeline.extract.python.extractor import extract_python

__all__ = ["extract_python"]
