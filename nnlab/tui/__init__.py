"""The lab: nnlab's Textual app (imported only when the lab is opened).

Nothing outside this package imports Textual; ``nnlab.tui.app`` is imported lazily by
the CLI. Widgets here import no NumPy either — the engine is loaded in a worker after
the first frame (see :mod:`nnlab.tui.model`).
"""
