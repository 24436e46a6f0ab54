"""The lessons' "Try it" widgets: each builder returns one layout widget that a notebook cell displays."""
