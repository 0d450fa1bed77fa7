# The boot stub of a PEX built by cluster-pack. Python runs this file through zipimport
# (single-file PEX) or from the directory (packed layout); it finds the runtime under
# .bootstrap/ and hands over. Kept tiny: everything it imports is already loaded at startup.
import os
import sys

__pex = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(__pex, ".bootstrap"))
try:
    from _cluster_pack_pex.boot import main as __boot
finally:
    del sys.path[0]
__boot(__pex, __loader__, __file__)
