"""The runtime of PEX files built by cluster-pack (stdlib only, Python 3.8+).

Leaves (import nothing from the runtime):
  variables  every PEX_* variable, parsed once
  pex_info   PEX-INFO's fields, checked at one choke point before any path is built
  layout     where things are inside a PEX (zipapp split/flat, packed, loose)
  dirs       the PEX_ROOT directory table
  plan       the boot-plan format, written and read here only
  atomic     atomic directories and files
  syspath    sys.path laid out as the equivalent venv has it (.pth files included)
  tags       the wheel tags this interpreter accepts, and interpreter constraints
  interpreter  behave like the `python` running us (-c, -m, script, stdin, REPL, options)
  tools      PEX_TOOLS=1
Above them:
  extract        the cold path (check the interpreter, extract atomically, make the plan)
  layers         a layered PEX's layer files: found beside it, checked by size and sha256 once
  venv           venv execution mode
  select_python  PEX_PYTHON, PEX_PYTHON_PATH and the search for a compatible interpreter
  boot           orchestrates a start; nothing imports it
"""
