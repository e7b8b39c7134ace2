"""nnlab: a terminal lab for stepping through neural-network computations.

This module holds only the version: importing ``nnlab`` must stay cheap, because
``nnlab --help`` and ``nnlab check`` are expected to start as fast as
``python -c "import numpy, yaml"``.
"""

__version__ = "0.1.0"
