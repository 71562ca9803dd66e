"""The blueprint, drawn by the code: one graph per domain, each built by its converter in
:mod:`gdl_graphs.domains` and drawn by :func:`gdl_graphs.viz.plot_data`."""
import matplotlib.pyplot as plt
import networkx as nx
import torch
from torch_geometric.data import Data
from torch_geometric.utils import from_networkx

from gdl_graphs import domains, viz
from gdl_graphs.domains.mesh import torus_mesh

torch.manual_seed(0)
t = torch.linspace(0, 6.28, 40)
karate = from_networkx(nx.karate_club_graph())
karate.x = torch.tensor([[float(c == 'Officer')] for c in
                         nx.get_node_attributes(nx.karate_club_graph(), 'club').values()])
points = torch.randn(200, 3)
pos, face = torus_mesh(24, 12)
mesh = domains.mesh_to_graph(pos, face)
mesh.x = pos[:, 2:].float()
sphere = domains.icosphere(2)
sphere.x = sphere.pos[:, 2:]
nodes = torch.rand(7, 2)
complete = Data(x=nodes, pos=nodes, edge_index=domains.complete_graph(num_nodes=7, loops=False))

panels = [
    ('grid: lattice graph', domains.image_to_graph(torch.rand(1, 1, 10, 10))),
    ('set: edgeless graph', domains.set_to_graph(torch.rand(30, 1), pos=torch.rand(30, 2))),
    ('sequence: path graph', domains.sequence_to_graph(torch.stack([t.sin(), t.cos()], 1))),
    ('attention: complete graph', complete),
    ('graph: a graph', karate),
    ('group: point cloud (k-NN)', domains.pointcloud_to_graph(points, k=6)),
    ('group: icosphere', sphere),
    ('gauge: mesh with frames', mesh),
]
fig = plt.figure(figsize=(16, 8))
for k, (title, data) in enumerate(panels, 1):
    three_d = data.pos is not None and data.pos.size(-1) == 3
    ax = fig.add_subplot(2, 4, k, projection='3d' if three_d else None)
    viz.plot_data(data, ax=ax)
    ax.set_title(title)
fig.tight_layout()
