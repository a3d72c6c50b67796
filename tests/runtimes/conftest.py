"""Runtime tests import the recording fake of the tensorrt module from this folder."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
