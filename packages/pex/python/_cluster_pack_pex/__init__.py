"""The runtime of PEX files built by cluster-pack (stdlib only, Python 3.8+).

boot: the warm path (read PEX-INFO, load the cached boot plan, set sys.path, run).
interpreter: behave like the `python` running us (-c, -m, script, stdin, REPL, options).
extract: the cold path (check the interpreter, pick wheels, extract atomically, plan).
tags: the wheel tags this interpreter accepts, and interpreter constraints.
"""
