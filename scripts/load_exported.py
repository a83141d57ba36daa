#!/usr/bin/env python3
"""Loads what `rnnlab-<app> export` wrote into torch.nn modules, with Python's
PyTorch alone: the modules FILE.json describes, rebuilt, and FILE.pt's
state_dict loaded into them with strict name and shape checks (tensors the
JSON lists as rnnlab-only, which no torch.nn module holds, are left out).

  scripts/load_exported.py FILE.pt"""
import json, os, sys

import torch

path = sys.argv[1]
spec = json.load(open(os.path.splitext(path)[0] + ".json"))
model = torch.nn.ModuleDict(
    {name: getattr(torch.nn, m["class"])(**m["args"]) for name, m in spec["modules"].items()})
state = torch.load(path)
state = {k: v for k, v in state.items() if k not in spec["rnnlab_only"]}
model.load_state_dict(state, strict=True)
print(f"loaded {len(state)} tensors into {len(spec['modules'])} torch.nn modules: " +
      ", ".join(f"{n} ({m['class']})" for n, m in spec["modules"].items()))
