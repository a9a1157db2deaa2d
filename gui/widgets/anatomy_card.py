"""The anatomy card: everything known about the selected module, at a glance."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QFormLayout, QLabel, QPlainTextEdit, QTabWidget, QVBoxLayout, QWidget

from gui.widgets.anatomy_model import format_count, format_pair, format_shape


class WrappedLabel(QLabel):
    """A word-wrapped label as tall as its lines at its width.

    Inside the dock's scroll area the form would give a wrapped label one line and cut
    the rest (ViT's and Swin's notes ended mid-sentence); this one asks for its height.
    """

    def setText(self, text: str) -> None:  # noqa: N802 - Qt override
        super().setText(text)
        self.fit_height()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self.fit_height()

    def fit_height(self) -> None:
        """Ask for the height of every wrapped line at the current width."""
        needed = self.heightForWidth(self.width()) if self.width() > 0 else -1
        if needed > 0 and needed != self.minimumHeight():
            self.setMinimumHeight(needed)


def _selectable_label() -> QLabel:
    label = WrappedLabel("–")
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setWordWrap(True)
    return label


class AnatomyCard(QWidget):
    """Facts about one module: size, shape, receptive field, cost, repr and source.

    The repr and the source of ``forward`` are shown in read-only monospace text.
    """

    FIELDS = ("Layer", "Type", "Parameters", "Output shape", "Receptive field", "Jump",
              "First centre", "MACs", "Notes")

    def __init__(self, parent=None):
        super().__init__(parent)
        form = QFormLayout()
        form.setContentsMargins(4, 4, 4, 4)
        self.values: dict[str, QLabel] = {}
        tips = {
            "Parameters": "Parameters in this module and all below it, and their share of the model",
            "Receptive field": "Input pixels (height×width) that one unit of this output can see, and its kind: "
                               "box (one size everywhere), gated (scaled by a global squeeze-excitation), "
                               "window (attention windows: depends on the position, the largest is shown), "
                               "global (attention over all tokens: the whole input)",
            "Jump": "Input pixels between neighbouring units (effective stride)",
            "First centre": "Input pixel (y, x) at the centre of the first unit's field",
            "MACs": "Multiply-accumulates of this module and all below it, for one input (all calls), "
                    "as torchvision publishes them: one per weight use of every convolution and matrix "
                    "product that runs (linear layers and attention's matmuls included); biases, norms, "
                    "activations and pooling count nothing",
            "Notes": "What the numbers above leave out: gates, position-dependent fields, shared "
                     "weights, why a module was not called",
        }
        self.tips = tips
        for name in self.FIELDS:
            label = _selectable_label()
            label.setToolTip(tips.get(name, ""))
            self.values[name] = label
            form.addRow(f"{name}:", label)

        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.repr_text = QPlainTextEdit(readOnly=True)
        self.source_text = QPlainTextEdit(readOnly=True)
        for text in (self.repr_text, self.source_text):
            text.setFont(mono)
            text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.tabs = QTabWidget(self)
        self.tabs.addTab(self.repr_text, "Module")
        self.tabs.addTab(self.source_text, "forward() source")
        self.tabs.setToolTip("The module as PyTorch prints it, and the code of its forward pass")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addWidget(self.tabs, 1)

    def show_node(self, node, call: int = 1, total_params: int = 0, layer: str | None = None) -> None:
        """Fill the card for ``node`` (an ``AnatomyNode``), for its ``call``-th call."""
        if node is None:
            self.clear()
            return
        v = self.values
        v["Layer"].setText(layer if layer else (node.name or "(whole model)"))
        v["Type"].setText(node.type)
        share = f" ({100 * node.params_total / total_params:.1f} % of model)" if total_params else ""
        v["Parameters"].setText(f"{node.params_total:,}{share}")
        this = node.calls[call - 1] if len(node.calls) >= call else None
        shape = this.output_shape if this is not None else None
        calls = f"  — call {call} of {len(node.calls)}" if len(node.calls) > 1 else ""
        # an (N, H, W, C) output (Swin's stages) is recorded and shown channels first
        order = "  (H×W×C; maps shown channels first)" if this is not None and this.grid_last else ""
        v["Output shape"].setText(format_shape(shape) + order + calls)
        field = node.calls[call - 1].field if len(node.calls) >= call else None
        kind = node.calls[call - 1].kind if len(node.calls) >= call else ""
        if field:
            extra = {"gated": ", gated", "window": ", window (largest)", "global": ", global"}
            v["Receptive field"].setText(f"{format_pair(field.size)} px{extra.get(kind, '')}")
        elif kind == "partitioned":
            v["Receptive field"].setText("tokens in window order (see the attention layer above)")
        else:
            v["Receptive field"].setText("none (not a spatial map)")
        v["Jump"].setText(f"{format_pair(field.jump)} px" if field else "–")
        v["First centre"].setText(", ".join(f"{s:g}" for s in field.start) if field else "–")
        macs = node.macs_total
        text = format_count(macs) if macs else "–"
        if len(node.calls) > 1 and len(node.calls) >= call:
            text += f"  (call {call}: {format_count(node.calls[call - 1].macs)})"
        v["MACs"].setText(text)
        notes = [field.note] if field and field.note else []
        if node.shared_with:
            notes.append(f"shares weights with {', '.join(node.shared_with)} (counted once in totals)")
        if node.hint:
            notes.append(node.hint)
        v["Notes"].setText("; ".join(notes) or "–")
        v["Notes"].setToolTip("\n".join(notes) or self.tips["Notes"])
        self.repr_text.setPlainText(node.module_repr)
        self.source_text.setPlainText(node.forward_source)

    def clear(self) -> None:
        """Show no module."""
        for label in self.values.values():
            label.setText("–")
        self.repr_text.clear()
        self.source_text.clear()
