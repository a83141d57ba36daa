#!/usr/bin/env python3
"""Perplexity of a text under a language model that `rnnlab-lm export` wrote,
computed with Python's PyTorch alone (torch.nn.Embedding, LSTM/GRU/RNN, Linear):
the check that an exported model is the model rnnlab trained.

  scripts/score_exported_lm.py MODEL.pt TEXT [--batch B]

Word tokenizers that split on white space alone (data.tokenizer.split_punctuation:
false, as PTB and WikiText-2 are read), one <eos> per line. Laid out as rnnlab-lm
eval does: <bos> then the text's tokens, B columns, the state carried through
each column; perplexity over every token, <eos> included."""
import argparse, json, math, os, sys

import torch

p = argparse.ArgumentParser()
p.add_argument("model")
p.add_argument("text")
p.add_argument("--batch", type=int, default=1)
a = p.parse_args()

spec = json.load(open(os.path.splitext(a.model)[0] + ".json"))
# The five lines that rebuild the model and load its weights:
model = torch.nn.ModuleDict(
    {name: getattr(torch.nn, m["class"])(**m["args"]) for name, m in spec["modules"].items()})
model.load_state_dict(torch.load(a.model))
model.eval()
vocab = json.load(open(os.path.join(os.path.dirname(a.model), spec["tokenizer"]["vocabulary"])))
ids = {w: i for i, w in enumerate(vocab)}
special = spec["tokenizer"]["special_ids"]
options = spec["tokenizer"].get("options", {})
if spec["tokenizer"]["type"] != "word" or options.get("split_punctuation", True):
    sys.exit("error: this script splits words on white space only; the model's tokenizer is "
             f"{spec['tokenizer']['type']} {options} (score with rnnlab-lm eval)")
for m in ("rnn_last", "projection", "adaptive"):
    if m in spec["modules"]:
        sys.exit(f"error: the model has '{m}'; this script rebuilds embedding -> rnn -> decoder only")

lower = options.get("lowercase", False)
stream = [special["<bos>"]]
lines = open(a.text, encoding="utf-8").read().split("\n")
for i, line in enumerate(lines):  # every newline is an <eos>, a blank line's too
    words = (line.lower() if lower else line).split()
    stream += [ids.get(w, special["<unk>"]) for w in words]
    if i + 1 < len(lines):
        stream.append(special["<eos>"])
x, y = torch.tensor(stream[:-1]), torch.tensor(stream[1:])
n = len(y)
cols = a.batch
rows = math.ceil(n / cols)
pad = special["<pad>"]
x = torch.cat([x, torch.full((rows * cols - n,), pad)]).view(cols, rows).t()
y = torch.cat([y, torch.full((rows * cols - n,), pad)]).view(cols, rows).t()
with torch.no_grad():
    h, _ = model["rnn"](model["embedding"](x))
    logits = model["decoder"](h)
    nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1),
                                            ignore_index=pad, reduction="sum").item()
print(f"{a.text}: {n} tokens : loss {nll / n:.4f} : ppl {math.exp(nll / n):.3f}")
