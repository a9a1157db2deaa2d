"""A model's main stages: the default layers of a layer sweep (torch-free: it reads the
anatomy tree only, so the window can offer them before torch has loaded)."""

from __future__ import annotations


def main_stages(anatomy, limit: int = 8) -> list[str]:
    """One module per spatial resolution of the model's maps, shallow to deep.

    Among the modules called once whose output is a ``(N, C, H, W)`` map, for each size
    ``(H, W)`` (largest first) the last (in module order) of the shallowest: a ResNet gives ``relu,
    layer1 ... layer4``, VGG and AlexNet the last module before each pooling.  Models with
    no such maps (transformers) give their top-level children that output a tensor.  At
    most ``limit`` stages, evenly spread.
    """
    nodes = [n for n in anatomy.root.walk() if n.name and len(n.calls) == 1]
    by_size: dict[tuple, list] = {}
    for node in nodes:
        shape = node.calls[0].recorded_shape
        if shape is not None and len(shape) == 4 and shape[2] * shape[3] > 1:
            by_size.setdefault(tuple(shape[2:]), []).append(node)
    if len(by_size) >= 2:
        stages = []
        for group in by_size.values():
            depth = min(n.depth for n in group)
            stages.append([n for n in group if n.depth == depth][-1])
        # larger maps come first (a container such as ``features`` precedes its children in module order)
        names = [n.name for n in sorted(stages, key=lambda n: -n.calls[0].recorded_shape[2]
                                        * n.calls[0].recorded_shape[3])]
    else:
        names = [n.name for n in anatomy.root.children if len(n.calls) == 1 and n.calls[0].output_shape]
    if len(names) > limit:
        step = (len(names) - 1) / (limit - 1)
        names = [names[round(i * step)] for i in range(limit)]
    return names
