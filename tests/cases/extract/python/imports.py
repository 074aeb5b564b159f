"""Imports in every form.

Example of text that is not code::

    import not_a_module
    from fake import nothing

>>> import doctest_only
"""
import os
import os.path as osp, sys
from . import sibling
from .. import parent as renamed
from ..package.module import (
    first,  # a comment
    second as alias,
)
from .base import *
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

try:
    import ujson as json
except ImportError:
    import json


def lazy():
    """Import at call time.

    Example::

        lazy()
    """
    import importlib
    from xml.etree import ElementTree as ET
    return importlib, ET


TEXT = "import hidden_in_string"
