import os
import sys

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
PY_ROOT = os.path.dirname(TESTS_DIR)                       # rpc/python
REPO_ROOT = os.path.dirname(os.path.dirname(PY_ROOT))      # repository root
if PY_ROOT not in sys.path:
    sys.path.insert(0, PY_ROOT)
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)
