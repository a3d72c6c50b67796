"""A synthetic FEC-format dataset: procedurally drawn faces judged by simulated raters.

The real FEC pictures cannot always be fetched, so this package writes a stand-in that takes exactly
the code path of real data: `train.csv` and `test.csv` in the official format, pictures under
`images/` with a normalised face box each, `synth.json` with a summary and the parameters, and
`expressions.csv`, the ground truth behind every picture (for analysis; training never reads it).

Generative model
----------------
Every face has two independent parameter sets, drawn from one `np.random.default_rng(seed)`:

* identity: head width and height, skin tone, eye colour, hair colour and style, background colour
  and clutter, a small pose change (shift, rotation, box scale) and the lighting (gain, gradient);
* expression: a point in a six-axis space (mouth curve, mouth opening, brow raise, brow tilt, eye
  opening, nose wrinkle): one of its category's three sub-expressions plus small Gaussian noise,
  clipped to the axis range.

Seven categories (neutral, happy, sad, surprise, anger, fear, disgust) each hold three
sub-expressions, as real categories do (the FEC paper's example: smiles range from shy smiles to
laughter). This is what gives ONE_CLASS triplets something to judge. Generator version 1 drew each
category as one prototype plus isotropic noise (0.13 per axis); a ONE_CLASS judgement then hinged on
differences under one pixel at the 96 px the models see, which the simulated raters still labelled 94%
consistently, and every model trained on it stayed at 37-47% on ONE_CLASS (benchmarks/README.md).

Each split has its own pool of faces (about 0.6 per triplet, balanced over categories), so no test
picture is seen in training. Triplets are drawn from the pool, a third of each type: ONE_CLASS (three faces
of one category), TWO_CLASS (two of one category, one of another) and THREE_CLASS (three categories).

Six raters per triplet, from a pool of thirty each with its own noise level and lapse rate, see the
three expression vectors plus Gaussian noise proportional to the triplet's mean pairwise distance
(Weber's law: a difference is judged relative to the differences around it, so fine ONE_CLASS
judgements are as reliable as coarse THREE_CLASS ones), call the closest pair similar and annotate
the third face as odd; a lapse gives a random answer. The noise-free answer is the odd face by true
expression distance; `oracle_accuracy` is the share of triplets whose majority label equals it, the
ceiling a perfect model could reach.

Each face is drawn at twice its size (for smooth edges) on a transparent tile, rotated, halved and
pasted at a random offset into a picture 1.3 to 2 times the face size along each axis.

Modules, lowest first
---------------------
* `expressions`: the categories, sub-expressions and axes, and which of three faces is odd;
* `faces`: a face's identity and expression, and where its box sits in the picture;
* `raters`: the simulated raters and their labels;
* `splits`: each split's face pool, its triplets and their CSV records;
* `face_tile` and `picture`: drawing a face, then the whole picture around it;
* `ground_truth`: reading and writing `expressions.csv`;
* `summary`: what `synth.json` records;
* `writer`: `write_synthetic_dataset`, which runs all of the above in a fixed order.
"""

from fec.data.synth.ground_truth import EXPRESSIONS_FILE, read_expressions
from fec.data.synth.summary import SynthSummary
from fec.data.synth.writer import write_synthetic_dataset

__all__ = ["EXPRESSIONS_FILE", "SynthSummary", "read_expressions", "write_synthetic_dataset"]
