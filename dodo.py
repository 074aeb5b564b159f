"""doit entry point: wiring only. ``doit`` builds what ``[tool.pipeline]`` names;
``doit source=DIR output=DIR depth=N`` overrides it."""

from pipeline.cli import dodo_namespace

globals().update(dodo_namespace())
