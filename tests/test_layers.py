"""Every module of splitlab is in a layer of ``.importlinter``'s ``layers`` contract.

The layers name modules, not packages (they cut across the domain packages), so a new module is
in no layer until someone puts it in one, and until then ``lint-imports`` checks nothing about it.
"""

from __future__ import annotations

import configparser
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]


def layer_modules() -> set[str]:
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter", encoding="utf-8")
    names = set()
    for line in config["importlinter:contract:layers"]["layers"].splitlines():
        for name in line.replace("|", ":").split(":"):
            if name.strip():
                names.add(name.strip().strip("()"))
    return names


def test_every_module_is_in_a_layer() -> None:
    layers = layer_modules()
    graph = grimp.build_graph("splitlab")
    unplaced = []
    for module in sorted(graph.modules):
        if any(module == layer or module.startswith(layer + ".") for layer in layers):
            continue
        if any(layer.startswith(module + ".") for layer in layers):
            # A package whose modules have their layers (splitlab, splitlab.experiments …): its
            # own __init__ must import nothing of splitlab, or that import would escape them.
            imported = graph.find_modules_directly_imported_by(module)
            assert not {m for m in imported if m.startswith("splitlab")}, module
            continue
        unplaced.append(module)
    assert not unplaced, f"put these modules in a layer of .importlinter: {unplaced}"
