"""``python -m grader.worker JOB.json``: started by the grader, never by hand."""

import sys

from grader.worker.main import main

sys.exit(main(sys.argv[1:]))
