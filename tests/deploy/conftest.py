"""Fixtures of the deployment tests. tests/deploy/run prepares the harness (engine, images,
tools) before pytest starts; the fixtures here start and stop what each module deploys."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

