"""Pictures of what pyconv computes: computation graphs, filters, feature maps, confusion matrices.

    from pyconv import viz
    viz.draw_graph(loss)                 # graphviz.Digraph (or an object with .source, the DOT text)
    viz.to_dot(loss)                     # the DOT text, always
    viz.render_graph(loss, "graph.png")  # needs the Graphviz `dot` program
    viz.show_filters(model.features[0])  # matplotlib figures from here on
    viz.feature_maps(model, x, layers=["features.0", "features.3"])
    viz.plot_confusion(counts, class_names)

matplotlib and graphviz are optional (`pip install "pyconv[viz]"`): they are imported when a
function needs them, and a missing one is an ImportError that names the extra. to_dot needs
neither.
"""
from .figures import activations, feature_maps, plot_confusion, show_filters
from .graph import DotGraph, GraphvizMissing, draw_graph, graph_nodes, render_graph, to_dot

__all__ = ["draw_graph", "to_dot", "render_graph", "graph_nodes", "DotGraph", "GraphvizMissing",
           "show_filters", "feature_maps", "activations", "plot_confusion"]
