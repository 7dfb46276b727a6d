#!/usr/bin/env python3
"""The paper's 64 IOI prompts as data: public/data/paper-ioi.jsonl.

The paper builds them with Easy-Transformer's IOIDataset(prompt_type="BABA", N=64, nb_templates=1,
prepend_bos=False, seed=0). That class seeds Python's `random` with the seed, keeps the first BABA template,
and for each prompt draws, in this order, with random.choice: the template (one to choose from), three names
until all three differ (name 1 is the indirect object A, name 2 the subject B; name 3 is unused), a place and an
object. This script repeats that sequence of draws with the same lists, so it needs nothing but Python's
standard library; docs/cli.md says how it was made. Each line: prompt (the text up to " to"), target " A",
contrast " B" — the logit difference the paper reads at the " to" token.
  python3 scripts/make-paper-ioi.py > public/data/paper-ioi.jsonl
"""
import json
import random

# Easy-Transformer's lists (ioi_dataset.py), in their order: the draws index into them.
NAMES = """Aaron Adam Alan Alex Alice Amy Anderson Andre Andrew Andy Anna Anthony Arthur Austin Blake Brandon Brian
Carter Charles Charlie Christian Christopher Clark Cole Collins Connor Crew Crystal Daniel David Dean Edward
Elizabeth Emily Eric Eva Ford Frank George Georgia Graham Grant Henry Ian Jack Jacob Jake James Jamie Jane Jason
Jay Jennifer Jeremy Jessica John Jonathan Jordan Joseph Joshua Justin Kate Kelly Kevin Kyle Laura Leon Lewis Lisa
Louis Luke Madison Marco Marcus Maria Mark Martin Mary Matthew Max Michael Michelle Morgan Patrick Paul Peter Prince
Rachel Richard River Robert Roman Rose Ruby Russell Ryan Sarah Scott Sean Simon Stephen Steven Sullivan Taylor
Thomas Tyler Victoria Warren William""".split()
PLACES = ["store", "garden", "restaurant", "school", "hospital", "office", "house", "station"]
OBJECTS = ["ring", "kiss", "bone", "basketball", "computer", "necklace", "drink", "snack"]
TEMPLATES = ["Then, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]"]

rng = random.Random(0)
for _ in range(64):
    template = rng.choice(TEMPLATES)
    a = b = c = ""
    while len({a, b, c}) < 3:
        a, b, c = rng.choice(NAMES), rng.choice(NAMES), rng.choice(NAMES)
    place, obj = rng.choice(PLACES), rng.choice(OBJECTS)
    text = template.replace("[PLACE]", place).replace("[OBJECT]", obj).replace("[A]", a).replace("[B]", b)
    prompt = text[: -len(" " + a)]
    assert prompt.endswith(" to")
    print(json.dumps({"prompt": prompt, "target": " " + a, "contrast": " " + b, "label": f"IO {a}, S {b}"}))
