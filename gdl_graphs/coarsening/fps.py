"""Moved to :mod:`gdl_graphs.geometry.fps`; this alias is kept for one release."""
from ..geometry.fps import *  # noqa: F401,F403
from ..geometry.fps import __all__  # noqa: F401
