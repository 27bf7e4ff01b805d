"""`python -m training.interests`: see training.interests.cli."""

import sys

from training.interests.cli import main

sys.exit(main())
