#!/usr/bin/env python3
"""Writes the state_dict files the torch_export tests read, with Python's
PyTorch (Debian's python3-torch 1.13): files rnnlab must read as Python
users write them. Values are arange-based, so the tests know them exactly.

  /usr/bin/python3 tests/data/pytorch/make_fixtures.py   (from the repository root)"""
import os

import torch

here = os.path.dirname(os.path.abspath(__file__))


def numbered(module):
    """Gives the k-th element of the i-th tensor the value i + k / 1000."""
    with torch.no_grad():
        for i, (_, t) in enumerate(module.state_dict().items()):
            t.copy_(i + torch.arange(t.numel(), dtype=t.dtype).view_as(t) / 1000)
    return module


# A language model as the docs rebuild one: Embedding(12, 4), LSTM(4, 5, 2), Linear(5, 12).
lm = numbered(torch.nn.ModuleDict({"embedding": torch.nn.Embedding(12, 4, padding_idx=0),
                                   "rnn": torch.nn.LSTM(4, 5, 2),
                                   "decoder": torch.nn.Linear(5, 12)}))
torch.save(dict(lm.state_dict()), os.path.join(here, "lm_dict.pt"))
# What model.state_dict() is: an OrderedDict, which libtorch 1.13 cannot read.
torch.save(lm.state_dict(), os.path.join(here, "lm_ordered_dict.pt"))
# The same in float64 (converted on reading).
torch.save({k: v.double() for k, v in lm.state_dict().items()},
           os.path.join(here, "lm_double.pt"))
# Not a dict: one tensor.
torch.save(torch.arange(3.0), os.path.join(here, "tensor.pt"))
