"""The one bootstrap of the scripts in reproduce/: puts the repository root on sys.path, so that
``python reproduce/<script>.py`` finds models, loss, train and the rest without installing anything.
Every script imports it first; the tests get the same through pytest.ini."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
