"""summary(model, input_shape): a Keras-style table of every layer's output shape and
parameter count, found by running one forward pass on zeros with forward hooks."""
import numpy as np

from ..tensor import Tensor, no_grad


def _shape(out):
    if isinstance(out, Tensor):
        return str(list(out.shape))
    if isinstance(out, (tuple, list)):
        return ", ".join(_shape(o) for o in out)
    return "-"


def summary(model, input_shape, batch_size=2, dtype=np.float32, device="cpu", file=None, print_fn=print):
    """Print and return a table of the layers that do the work (modules without children, and
    containers that hold parameters of their own), in call order.

    input_shape excludes the batch axis, e.g. (1, 28, 28). The pass runs in eval mode without
    gradients, so running statistics are untouched; the model's mode is restored afterwards.
    """
    rows, handles = [], []
    for name, m in model.named_modules():
        if m is model and any(True for _ in m.children()):
            continue
        if any(True for _ in m.children()) and not any(p is not None for p in m._parameters.values()):
            continue
        own = sum(p.numel() for p in m.parameters(recurse=False))

        def hook(module, inputs, out, name=name, own=own):
            rows.append((f"{name or type(module).__name__} ({type(module).__name__})", _shape(out), own))
        handles.append(m.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            x = Tensor(np.zeros((batch_size,) + tuple(input_shape), dtype=dtype)).to(device)
            out = model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    total = model.num_parameters()
    trainable = model.num_parameters(trainable_only=True)
    w1 = max([len("Layer (type)")] + [len(r[0]) for r in rows]) + 2
    w2 = max([len("Output Shape")] + [len(r[1]) for r in rows]) + 2
    rule = "=" * (w1 + w2 + 12)
    lines = [f"{type(model).__name__}: input {[batch_size] + list(input_shape)} -> output {_shape(out)}",
             rule, f"{'Layer (type)':<{w1}}{'Output Shape':<{w2}}{'Param #':>12}", rule]
    lines += [f"{n:<{w1}}{s:<{w2}}{p:>12,}" for n, s, p in rows]
    lines += [rule, f"Total params: {total:,}", f"Trainable params: {trainable:,}",
              f"Non-trainable params: {total - trainable:,}", rule]
    text = "\n".join(lines)
    if print_fn is not None:
        print_fn(text)
    return text
