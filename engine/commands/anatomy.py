"""``unitscope anatomy MODEL [--json]``: the module tree as a table or as JSON."""

from __future__ import annotations

from engine.anatomy.macs import CONVENTION
from engine.anatomy.tree import build_anatomy, format_table
from engine.cli import add_model_arguments, print_json
from engine.models.sources import open_model

RF_KINDS = ("rf_kind: box (every unit sees a box of one size, jump apart), gated (that box, scaled by a "
            "global squeeze-excitation), window (attention windows: the field depends on the unit's "
            "position; the largest is given), global (attention over all tokens: the whole input), "
            "none (no spatial grid), unknown (the grid could not be followed), partitioned (tokens "
            "regrouped inside window attention: see that layer)")


def register(sub) -> None:
    parser = sub.add_parser(
        "anatomy", help="print the model's module tree with shapes, params, MACs and receptive fields",
        description=f"The model's module tree from one forward pass. {CONVENTION}. {RF_KINDS}.")
    add_model_arguments(parser)
    parser.add_argument("--json", action="store_true",
                        help="print JSON instead of a table (every call's shape, MACs and field in per_call)")
    parser.set_defaults(run=run)


def run(args) -> int:
    model = open_model(args.model, args.weights, args.trust_pickle, seed=getattr(args, "seed", 0))
    anatomy = build_anatomy(model.module, model.input_size)
    if args.json:
        print_json({
            "model": model.name,
            "weights": model.weights_label,
            "total_params": anatomy.total_params,
            "total_macs": anatomy.total_macs,
            "mac_convention": CONVENTION,
            "input_shape": list(anatomy.input_shape),
            "notes": anatomy.notes,
            "modules": [node.as_dict() for node in anatomy.nodes()],
        })
    else:
        print(f"{model.display_name}: {anatomy.total_params:,} parameters, input "
              f"{'x'.join(map(str, anatomy.input_shape))}")
        if anatomy.device:
            print(f"{anatomy.total_macs / 1e9:.3f} GMACs ({anatomy.total_macs:,} multiply-accumulates, "
                  "torchvision's convention: see unitscope anatomy --help)")
        for note in anatomy.notes:
            print(f"note: {note}")
        print(format_table(anatomy, model.name))
    return 0
