# The import check of cosmo-bundle: imports plugin classes one after another in one process.
#
# Run as `python -I -B -u -c <this text>` in a bundle's own interpreter (see worker.rs).
# stdin: one JSON line {"site": DIR, "dump_after": SECONDS, "jobs": [{"dist": NAME,
# "module": MODULE, "class": CLASS, "record": PATH_OF_RECORD}, ...]}. Module and class
# names are data, never code. After that line, stdin stays open; its end means that
# cosmo-bundle is gone, and the process exits.
# Original stdout: one JSON line per event, nothing else:
#   {"start": I, "stderr": N}                        before importing job I
#   {"done": I, "fail": R, "poison": P, "stderr": N}  after it; R and P are null or a reason
# where N is the size of stderr then (what a job wrote there comes after its start's N).
# The process exits after the last job, or right after a job that poisoned the import state
# (the state is no longer a clean place to import the next plugin).
# The plugins' own stdout goes to stderr, their stdin is /dev/null; faulthandler writes a
# traceback to stderr on a fatal signal, and when a job runs longer than dump_after.

import _thread
import builtins
import csv
import faulthandler
import importlib
import importlib._bootstrap
import importlib._bootstrap_external
import importlib.machinery
import json
import os
import sys

MISSING = object()

# What this script uses after plugin code has run, bound now so that a plugin replacing
# one of them does not change what the check reports.
_dumps, _loads = json.dumps, json.loads
_write, _read, _exit, _listdir, _fstat = os.write, os.read, os._exit, os.listdir, os.fstat
_abspath, _realpath, _relpath, _normpath = (
    os.path.abspath,
    os.path.realpath,
    os.path.relpath,
    os.path.normpath,
)
_import_module = importlib.import_module
_open, _reader = open, csv.reader
_isinstance, _getattr, _type, _str, _len, _zip = isinstance, getattr, type, str, len, zip
_dump_later = faulthandler.dump_traceback_later
_cancel_dump = faulthandler.cancel_dump_traceback_later

# The namespaces whose entries the import system (and everyone) relies on: an entry a plugin
# replaces or removes there is a poisoning. Entries it adds are allowed.
_machinery = importlib.machinery
NAMESPACES = [
    ("builtins", vars(builtins)),
    ("importlib", vars(importlib)),
    ("importlib._bootstrap", vars(importlib._bootstrap)),
    ("importlib._bootstrap_external", vars(importlib._bootstrap_external)),
] + [
    ("importlib.machinery." + cls.__name__, cls.__dict__)
    for cls in (
        _machinery.BuiltinImporter,
        _machinery.FrozenImporter,
        _machinery.PathFinder,
        _machinery.FileFinder,
        _machinery.SourceFileLoader,
        _machinery.SourcelessFileLoader,
        _machinery.ExtensionFileLoader,
        _machinery.ModuleSpec,
    )
]
MODULES = sys.modules

EVENTS = os.dup(1)  # the report pipe; not inherited by the plugins' subprocesses
os.dup2(2, 1)  # a plugin's print() goes to stderr
CONTROL = os.dup(0)
_null = os.open(os.devnull, os.O_RDONLY)
os.dup2(_null, 0)
os.close(_null)
faulthandler.enable(file=2, all_threads=True)


def emit(event):
    try:
        event["stderr"] = _fstat(2).st_size
    except OSError:
        event["stderr"] = None
    data = (_dumps(event) + "\n").encode()
    while data:
        data = data[_write(EVENTS, data) :]


def read_request():
    data = b""
    while not data.endswith(b"\n"):
        chunk = _read(CONTROL, 65536)
        if not chunk:
            _exit(70)
        data += chunk
    return _loads(data)


def watch_parent():
    while _read(CONTROL, 4096):
        pass
    _exit(70)


def text(value, limit=2000):
    try:
        s = _str(value)
    except BaseException as e:
        s = "<unprintable %s>" % _type(e).__name__
    return s if _len(s) <= limit else s[:limit] + "..."


def snapshot(site):
    return {
        "modules": dict(MODULES),
        "namespaces": [(label, ns, dict(ns)) for label, ns in NAMESPACES],
        "meta_path": list(sys.meta_path),
        "path_hooks": list(sys.path_hooks),
        "path": list(sys.path),
        "importer_cache": {
            k: v for k, v in sys.path_importer_cache.items() if v is not None
        },
        "site": set(_listdir(site)),
    }


def kept_in_front(before, now, same):
    """Whether list `now` still starts with every entry of `before`, in order."""
    return _len(now) >= _len(before) and all(same(a, b) for a, b in _zip(before, now))


def poisoning(before, site):
    """What the last import changed in the shared import state, or None."""
    if sys.modules is not MODULES:
        return "replaced sys.modules"
    for name, module in before["modules"].items():
        now = MODULES.get(name, MISSING)
        if now is MISSING:
            return "removed sys.modules[%r]" % (name,)
        if now is not module:
            return "replaced sys.modules[%r] (with %s)" % (name, text(now, 100))
    for label, ns, saved in before["namespaces"]:
        for name, value in saved.items():
            now = ns.get(name, MISSING)
            if now is MISSING:
                return "removed %s.%s" % (label, name)
            if now is not value:
                return "replaced %s.%s" % (label, name)
    for name in ("meta_path", "path_hooks"):
        if not kept_in_front(before[name], _getattr(sys, name), lambda a, b: a is b):
            return (
                "changed sys.%s (a plugin may only append entries after the existing ones)"
                % name
            )
    if not kept_in_front(before["path"], sys.path, lambda a, b: a == b):
        return "changed sys.path (a plugin may only append entries after the existing ones)"
    for path, finder in before["importer_cache"].items():
        now = sys.path_importer_cache.get(path, MISSING)
        if now is not MISSING and now is not finder:
            return "replaced sys.path_importer_cache[%r]" % (path,)
    now = set(_listdir(site))
    if now != before["site"]:
        added = sorted(now - before["site"])
        removed = sorted(before["site"] - now)
        return "changed the bundle's site-packages (added %s, removed %s)" % (
            ", ".join(added) or "nothing",
            ", ".join(removed) or "nothing",
        )
    return None


def installed_files(record, site):
    """The files a RECORD lists, as normalised paths relative to `site`."""
    with _open(record, newline="", encoding="utf-8") as f:
        return {_normpath(row[0]) for row in _reader(f) if row}


def owned(path, site, files):
    """Whether file `path` is one of `files` (paths relative to `site`)."""
    for p in {_abspath(path), _realpath(path)}:
        for root in {_abspath(site), _realpath(site)}:
            rel = _relpath(p, root)
            if not rel.startswith("..") and rel in files:
                return True
    return False


def import_plugin(job, site):
    """Imports the job's class; returns why it is not a plugin class of its own, or None."""
    module, name, dist = job["module"], job["class"], job["dist"]
    what = "%s.%s" % (module, name)
    try:
        obj = _getattr(_import_module(module), name)
    except BaseException as e:
        return "cannot import %s: %s: %s" % (what, _type(e).__name__, text(e))
    if not _isinstance(obj, _type):
        return "%s is not a class (it is a %s)" % (what, _type(obj).__name__)
    defining = _getattr(obj, "__module__", None)
    source = MODULES.get(defining) if _isinstance(defining, _str) else None
    path = _getattr(source, "__file__", None)
    try:
        files = installed_files(job["record"], site)
    except BaseException as e:
        return "cannot read %s: %s" % (job["record"], text(e))
    if not _isinstance(path, _str) or not owned(path, site, files):
        return (
            "%s is defined in module %s (%s), which distribution %s does not install; "
            "plugin_class must name a class of the plugin's own distribution"
            % (what, text(defining, 200), path or "no file", dist)
        )
    return None


def main():
    request = read_request()
    _thread.start_new_thread(watch_parent, ())
    site, dump_after = request["site"], request["dump_after"]
    for i, job in enumerate(request["jobs"]):
        emit({"start": i})
        before = snapshot(site)
        if dump_after > 0:
            _dump_later(dump_after, file=2)
        fail = import_plugin(job, site)
        _cancel_dump()
        poison = poisoning(before, site)
        emit({"done": i, "fail": fail, "poison": poison})
        if poison is not None:
            break
    _exit(0)


main()
