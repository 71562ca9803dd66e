"""Geodesics on triangle meshes: the discrete operators (:mod:`.operators`), the patch
solvers behind one interface (:mod:`.solvers`: eikonal marching restricted to the disk, the
heat and vector heat methods, potpourri3d's solvers), geodesic polar patches
(:func:`geodesic_patches`) and geodesic distance (:func:`geodesic_distance`).

The meshes' frames and transport are those of :func:`gdl_graphs.domains.mesh.mesh_to_graph`,
so patches plug into :class:`gdl_graphs.nn.GEMConv` and :class:`gdl_graphs.nn.GeodesicPolarConv`
and into :func:`gdl_graphs.domains.mesh.change_gauge` unchanged.
"""
from .distance import geodesic_distance
from .patches import GeodesicPatches, geodesic_patches
from .solvers import HeatSolver, MarchingSolver, PatchSolver, Potpourri3dSolver

__all__ = ['geodesic_patches', 'GeodesicPatches', 'geodesic_distance', 'PatchSolver',
           'MarchingSolver', 'HeatSolver', 'Potpourri3dSolver']
