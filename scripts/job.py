"""Every rule's job: ``python scripts/job.py --log LOG STEP [options] OUTPUT...`` runs one step of
patchworks (``patchworks.pipeline.job``); the rules' shell commands are in ``workflow/rules/``."""

import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1] / "src"))  # patchworks inside a conda env, too
from patchworks.pipeline.job import main  # noqa: E402

main(fork=True)
