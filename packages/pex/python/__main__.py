# The boot stub of a PEX built by cluster-pack. Python runs this file through zipimport
# (single-file PEX) or from the directory (packed layout); it finds the runtime under
# .bootstrap/ and hands over. Kept tiny: everything it imports is already loaded at startup.
import os
import sys
import zipimport

__pex = os.path.dirname(os.path.abspath(__file__))
__bootstrap = os.path.join(__pex, ".bootstrap")


class __Runtime(object):
    """Imports the runtime from a zipped .bootstrap, compiling each module once: zipimport
    compiles a module's source twice (get_filename, then get_code), which doubled the cost
    of the modules a warm start imports before its boot plan (which carries the rest
    compiled) is read. Installed only while boot is imported."""

    def __init__(self, root, zip, prefix):
        self.root = root  # the .bootstrap path, for module file names
        self.zip = zip  # a zipimporter of the archive holding .bootstrap's files under `prefix`
        self.prefix = prefix

    def find_spec(self, name, path=None, target=None):
        if name.split(".", 1)[0] != "_cluster_pack_pex":
            return None
        rel = name.replace(".", "/")
        for tail in (".py", "/__init__.py"):
            try:
                source = self.zip.get_data(self.prefix + rel + tail)
            except OSError:
                continue
            spec = sys.modules["_frozen_importlib"].ModuleSpec(name, self, origin=os.path.join(self.root, rel + tail), is_package=tail != ".py")
            spec.has_location = True
            spec.loader_state = source
            if spec.submodule_search_locations is not None:
                spec.submodule_search_locations.append(os.path.join(self.root, rel))
            return spec
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        spec = module.__spec__
        exec(compile(spec.loader_state, spec.origin, "exec", dont_inherit=True), module.__dict__)

    def get_source(self, name):  # linecache, for tracebacks through the runtime
        spec = sys.modules[name].__spec__
        return spec.loader_state.decode("utf-8")


if isinstance(__loader__, zipimport.zipimporter):  # a single-file PEX
    __finder = __Runtime(__bootstrap, __loader__, ".bootstrap/")
elif os.path.isfile(__bootstrap):  # packed layout: .bootstrap is a zip
    __finder = __Runtime(__bootstrap, zipimport.zipimporter(__bootstrap), "")
else:  # loose: a directory, imported (and cached in __pycache__) as usual
    __finder = None
sys.path.insert(0, __bootstrap)
if __finder:
    sys.meta_path.insert(0, __finder)
try:
    from _cluster_pack_pex.boot import main as __boot
finally:
    del sys.path[0]
    if __finder:
        sys.meta_path.remove(__finder)
__boot(__pex, __loader__, __file__)
