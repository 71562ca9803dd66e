"""Moved to :mod:`gdl_graphs.geometry.voxel`; this alias is kept for one release."""
from ..geometry.voxel import *  # noqa: F401,F403
from ..geometry.voxel import __all__  # noqa: F401
