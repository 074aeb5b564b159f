"""Prose: markdown (``docs.markdown``), reStructuredText (``docs.rst``) and plain text
(``docs.text``). Each module is imported on its own, so a layer of markdown pages never
loads docutils."""
