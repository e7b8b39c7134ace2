"""Settings for every test."""

import os

# Every test computes its trainings: none reads one back from a cache that the user or an
# earlier test wrote (tests/unit/engine/test_train_cache.py turns the cache on where it tests it).
os.environ["NNLAB_CACHE"] = "0"
