"""The roles a painted cell of the graph drawing can have; a view maps each to a style.

Apart from :mod:`nnlab.render.diagram` so that the lab's graph view can name its styles
without importing the layout code before the first frame (the view may stay hidden).
"""

EDGE, EDGE_LIT, EDGE_DIM = "edge", "edge-lit", "edge-dim"
NODE, NAME, META, VALUE = "node", "name", "meta", "value"
LIT, LIT_NAME = "lit", "lit-name"
SOURCE, SOURCE_NAME = "source", "source-name"
DIM = "dim"
BLANK = ""
ROLES = (EDGE, EDGE_LIT, EDGE_DIM, NODE, NAME, META, VALUE, LIT, LIT_NAME, SOURCE, SOURCE_NAME, DIM)
