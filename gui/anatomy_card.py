"""The anatomy card: everything known about the selected module, at a glance."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QFormLayout, QLabel, QPlainTextEdit, QTabWidget, QVBoxLayout, QWidget

from gui.anatomy_model import format_count, format_pair, format_shape


def _selectable_label() -> QLabel:
    label = QLabel("–")
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setWordWrap(True)
    return label


class AnatomyCard(QWidget):
    """Facts about one module: size, shape, receptive field, cost, repr and source.

    The repr and the source of ``forward`` are shown in read-only monospace text.
    """

    FIELDS = ("Layer", "Type", "Parameters", "Output shape", "Receptive field", "Jump",
              "First centre", "MACs")

    def __init__(self, parent=None):
        super().__init__(parent)
        form = QFormLayout()
        form.setContentsMargins(4, 4, 4, 4)
        self.values: dict[str, QLabel] = {}
        tips = {
            "Parameters": "Parameters in this module and all below it, and their share of the model",
            "Receptive field": "Input pixels (height×width) that one unit of this output can see",
            "Jump": "Input pixels between neighbouring units (effective stride)",
            "First centre": "Input pixel (y, x) at the centre of the first unit's field",
            "MACs": "Multiply-accumulates of convolutions and linear layers in this module, "
                    "for one input (all calls)",
        }
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
        shape = node.calls[call - 1].output_shape if len(node.calls) >= call else None
        calls = f"  — call {call} of {len(node.calls)}" if len(node.calls) > 1 else ""
        v["Output shape"].setText(format_shape(shape) + calls)
        field = node.calls[call - 1].field if len(node.calls) >= call else None
        v["Receptive field"].setText(f"{format_pair(field.size)} px" if field else "none (not a spatial map)")
        v["Jump"].setText(f"{format_pair(field.jump)} px" if field else "–")
        v["First centre"].setText(", ".join(f"{s:g}" for s in field.start) if field else "–")
        macs = sum(n.macs for n in node.walk())
        v["MACs"].setText(format_count(macs) if macs else "–")
        self.repr_text.setPlainText(node.module_repr)
        self.source_text.setPlainText(node.forward_source)

    def clear(self) -> None:
        """Show no module."""
        for label in self.values.values():
            label.setText("–")
        self.repr_text.clear()
        self.source_text.clear()
