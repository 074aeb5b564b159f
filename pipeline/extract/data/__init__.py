"""Data files (YAML, JSON, TOML, INI): their key trees."""

from pipeline.extract.data.extractor import extract_ini, extract_json, extract_toml, extract_yaml

__all__ = ["extract_ini", "extract_json", "extract_toml", "extract_yaml"]
