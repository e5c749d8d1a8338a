"""The computation graph of a `Value` or a `Tensor`, as Graphviz DOT.

    a, b = Value(2.0), Value(-3.0)
    print(to_dot((a * b).tanh()))             # DOT text: needs nothing
    g = draw_graph(loss)                      # graphviz.Digraph when the package is installed
    render_graph(loss, "graph.png")           # runs Graphviz's `dot` program

The graph is walked the way backward() walks it:

* a `Value` (pyconv/scalar.py) records the Values it was made from in `_prev` and its op in
  `_op`: one node per Value, an edge from each input to the Value it made;
* a `Tensor` (pyconv/autograd.py) records the `Function` that made it in `grad_fn`; a Function
  holds its input tensors (`parents`), the Function that made each (`input_fns`, None for a
  leaf) and their shapes and dtypes (`input_meta`): one node per Function, labelled with its
  op, the shape and dtype of its output and the bytes of the arrays it keeps for backward
  (everything an attribute of the Function holds), and one node per leaf tensor.

Edges point from inputs to outputs, the direction of the forward pass (backward runs them in
reverse).
"""
import os
import shutil
import subprocess

from ..scalar import Value
from ..tensor import Tensor, _is_array

# attributes the engine sets on every recorded Function: bookkeeping, not arrays saved by the op
_ENGINE_ATTRS = {"parents", "needs_grad", "input_fns", "input_meta", "saved_versions", "retained"}


class GraphvizMissing(RuntimeError):
    """The Graphviz `dot` program is needed to render an image and is not on PATH."""


def _human_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def saved_bytes(fn):
    """Bytes of the arrays a recorded Function keeps for backward (each array counted once)."""
    seen, total = set(), 0
    for key, value in vars(fn).items():
        if key in _ENGINE_ATTRS:
            continue
        for item in value if type(value) in (tuple, list) else (value,):
            if _is_array(item) and id(item) not in seen:
                seen.add(id(item))
                total += int(item.nbytes)
    return total


def _shape_text(shape):
    return "(" + ", ".join(str(int(n)) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def _value_graph(root, names):
    """(nodes, edges) of a Value's graph, in the order backward() visits it (inputs first)."""
    order = root._topological_order()
    nodes = []
    for v in order:
        op = v._op or "leaf"
        nodes.append({"id": f"v{id(v)}", "kind": "leaf" if not v._prev else "op", "op": op,
                      "name": names.get(id(v)), "shape": (), "dtype": "float64",
                      "data": v.data, "grad": v.grad, "root": v is root, "requires_grad": True})
    edges = [(f"v{id(child)}", f"v{id(v)}") for v in order for child in dict.fromkeys(v._prev)]
    return nodes, edges


def _tensor_graph(root, names):
    """(nodes, edges) of a Tensor's graph: a node per Function and per leaf tensor."""
    def leaf_node(t):
        return {"id": f"t{id(t)}", "kind": "leaf", "op": "leaf", "name": names.get(id(t)),
                "shape": tuple(t.shape), "dtype": str(t.dtype), "requires_grad": bool(t.requires_grad),
                "root": t is root}

    if root.grad_fn is None:
        return [leaf_node(root)], []
    out_meta = {id(root.grad_fn): (tuple(root.shape), str(root.dtype))}
    nodes, edges, seen, stack = [], [], set(), [root.grad_fn]
    while stack:
        fn = stack.pop()
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        shape, dtype = out_meta[id(fn)]
        nodes.append({"id": f"f{id(fn)}", "kind": "op", "op": type(fn).__name__, "name": None,
                      "shape": shape, "dtype": dtype, "saved_bytes": saved_bytes(fn),
                      "root": fn is root.grad_fn, "requires_grad": True})
        for parent, ctx, (pshape, pdtype) in zip(fn.parents, fn.input_fns, fn.input_meta):
            if ctx is None:
                key = f"t{id(parent)}"
                if key not in seen:
                    seen.add(key)
                    nodes.append(leaf_node(parent))
                edges.append((key, f"f{id(fn)}"))
            else:
                out_meta.setdefault(id(ctx), (tuple(pshape), str(pdtype)))
                edges.append((f"f{id(ctx)}", f"f{id(fn)}"))
                stack.append(ctx)
    nodes.reverse()  # inputs before the ops that use them, as in the forward pass
    return nodes, list(dict.fromkeys(reversed(edges)))


def graph_nodes(root, names=None):
    """(nodes, edges) of the graph that leads to `root` (a Value or a Tensor).

    nodes: dicts with id, kind ("op" or "leaf"), op, name, shape, dtype, root, requires_grad, and
    data/grad (Values) or saved_bytes (Functions); edges: (input id, output id) pairs.
    names: {name: Value or Tensor} (e.g. dict(model.named_parameters())) to label leaves.
    """
    by_id = {id(v): k for k, v in (names or {}).items()}
    if isinstance(root, Value):
        return _value_graph(root, by_id)
    if isinstance(root, Tensor):
        return _tensor_graph(root, by_id)
    raise TypeError(f"draw_graph: expected a pyconv Value or Tensor, got {type(root).__name__}")


def _label(node):
    head = node["name"] or node["op"]
    if node["name"] and node["kind"] == "op":
        head += f" ({node['op']})"
    lines = [head]
    lines.append(f"{_shape_text(node['shape'])} {node['dtype']}")
    if "data" in node:  # a Value
        lines.append(f"data {node['data']:.4g} | grad {node['grad']:.4g}")
    else:
        if node["kind"] == "op":
            lines.append(f"saved {_human_bytes(node['saved_bytes'])}")
        elif not node["requires_grad"]:
            lines.append("no grad")
    return "\\n".join(line.replace("\\", "\\\\").replace('"', '\\"') for line in lines)


def _attrs(node):
    attrs = {"label": _label(node), "shape": "box"}
    if node["kind"] == "leaf":
        attrs.update(style="filled,rounded" if node["requires_grad"] else "dashed,rounded",
                     fillcolor="#dbe9f6")
    if node["root"]:
        attrs.update(style="filled", fillcolor="#f6d8b8")
    return attrs


GRAPH_ATTRS = {"rankdir": "LR", "fontname": "Helvetica"}
NODE_ATTRS = {"fontname": "Helvetica", "fontsize": "10"}


def _dot_attrs(attrs):
    return ", ".join(f'{k}="{v}"' for k, v in attrs.items())


def to_dot(root, names=None, rankdir="LR"):
    """The DOT text of the graph that leads to `root` (a Value or a Tensor); needs no package."""
    nodes, edges = graph_nodes(root, names)
    lines = ["digraph pyconv {",
             f"  graph [{_dot_attrs(dict(GRAPH_ATTRS, rankdir=rankdir))}];",
             f"  node [{_dot_attrs(NODE_ATTRS)}];"]
    lines += [f"  {n['id']} [{_dot_attrs(_attrs(n))}];" for n in nodes]
    lines += [f"  {a} -> {b};" for a, b in edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_program():
    dot = shutil.which("dot")
    if dot is None:
        raise GraphvizMissing(
            "rendering a graph needs the Graphviz `dot` program, which is not on PATH: install "
            "Graphviz (apt install graphviz, brew install graphviz, conda install graphviz, or "
            "https://graphviz.org/download/); pyconv.viz.to_dot(root) gives the DOT text without it")
    return dot


class DotGraph:
    """The graph when the `graphviz` package is missing: `.source` is the DOT text; `render`
    and `pipe` run the Graphviz `dot` program (GraphvizMissing when it is not installed)."""

    def __init__(self, source):
        self.source = source

    def __str__(self):
        return self.source

    def pipe(self, format="svg"):
        result = subprocess.run([_dot_program(), f"-T{format}"], input=self.source.encode(),
                                capture_output=True, check=False)
        if result.returncode:
            raise RuntimeError(f"dot -T{format} failed: {result.stderr.decode(errors='replace').strip()}")
        return result.stdout

    def render(self, path, format=None):
        format = format or os.path.splitext(path)[1].lstrip(".") or "png"
        data = self.pipe(format)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def _repr_svg_(self):  # shown inline by Jupyter when dot is installed
        try:
            return self.pipe("svg").decode()
        except GraphvizMissing:
            return None


def draw_graph(root, names=None, rankdir="LR"):
    """The graph that leads to `root` as a `graphviz.Digraph` (displayed inline by Jupyter,
    `.render(...)` to a file), or, without the `graphviz` package, a DotGraph with the same
    `.source`. Rendering an image needs the Graphviz `dot` program either way."""
    nodes, edges = graph_nodes(root, names)
    try:
        import graphviz
    except ImportError:
        return DotGraph(to_dot(root, names, rankdir))
    g = graphviz.Digraph("pyconv", graph_attr=dict(GRAPH_ATTRS, rankdir=rankdir), node_attr=NODE_ATTRS)
    for n in nodes:
        g.node(n["id"], **_attrs(n))
    for a, b in edges:
        g.edge(a, b)
    return g


def render_graph(root, path, names=None, rankdir="LR", dpi=None):
    """Write the graph of `root` to `path` (format from its extension: png, svg, pdf) with the
    Graphviz `dot` program; GraphvizMissing (with what to install) when it is not on PATH."""
    source = to_dot(root, names, rankdir)
    if dpi is not None:
        source = source.replace("graph [", f'graph [dpi="{dpi}", ', 1)
    return DotGraph(source).render(path)
