"""Moved to :mod:`gdl_graphs.geometry.search`; this alias is kept for one release."""
from ..geometry.search import *  # noqa: F401,F403
from ..geometry.search import __all__  # noqa: F401
