"""C, C++ and CUDA sources through tree-sitter: symbols, includes, rules."""

from pipeline.extract.cfamily.extractor import extract_c, extract_cpp, extract_cuda

__all__ = ["extract_c", "extract_cpp", "extract_cuda"]
