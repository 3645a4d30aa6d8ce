"""``python -m sqs_worker``: the worker, configured from the environment."""

import sys

from sqs_worker.worker import main

sys.exit(main())
