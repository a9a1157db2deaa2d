"""``unitscope anatomy MODEL [--json]``: the module tree as a table or as JSON."""

from __future__ import annotations

from engine.anatomy.tree import build_anatomy, format_table
from engine.cli import add_model_arguments, print_json
from engine.models.sources import open_model


def register(sub) -> None:
    parser = sub.add_parser("anatomy", help="print the model's module tree with shapes, params and receptive fields")
    add_model_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(run=run)


def run(args) -> int:
    model = open_model(args.model, args.weights, args.trust_pickle)
    anatomy = build_anatomy(model.module, model.input_size)
    if args.json:
        print_json({
            "model": model.name,
            "weights": model.weights_label,
            "total_params": anatomy.total_params,
            "input_shape": list(anatomy.input_shape),
            "modules": [node.as_dict() for node in anatomy.nodes()],
        })
    else:
        print(f"{model.display_name}: {anatomy.total_params:,} parameters, input "
              f"{'x'.join(map(str, anatomy.input_shape))}")
        for note in anatomy.notes:
            print(f"note: {note}")
        print(format_table(anatomy, model.name))
    return 0
