# The import check of cosmo-bundle: imports plugin classes one after another in one process.
#
# Run as `python -I -B -u -c <this text>` in a bundle's own interpreter (see worker.rs).
# stdin: the request's length in bytes (decimal) and a newline, then the request: fields
# separated by NUL bytes, SITE_DIR, DUMP_AFTER_SECONDS, then DIST, MODULE, CLASS,
# PATH_OF_RECORD for each job (UTF-8; paths hold no NUL). Module and class names are data,
# never code. After the request, stdin stays open; its end means that cosmo-bundle is
# gone, and the process exits. (No json, csv or re: importing them would cost about as
# much as starting the interpreter.)
# Original stdout: one JSON line per event, nothing else:
#   {"start": I, "stderr": N}                        before importing job I
#   {"done": I, "fail": R, "poison": P, "stderr": N}  after it; R and P are null or a reason
# where N is the size of stderr then (what a job wrote there comes after its start's N).
# The process exits after the last job, or right after a job that poisoned the import state
# (the state is no longer a clean place to import the next plugin).
# The plugins' own stdout goes to stderr, their stdin is /dev/null; faulthandler writes a
# traceback to stderr on a fatal signal, and when a job runs longer than dump_after (the
# timer is armed again when a job starts, unless it was armed less than a twentieth of
# dump_after before: arming and cancelling it costs a thread each time).

import _thread
import builtins
import faulthandler
import importlib
import importlib._bootstrap
import importlib._bootstrap_external
import importlib.machinery
import os
import sys
import time

MISSING = object()

# What this script uses after plugin code has run, bound now so that a plugin replacing
# one of them does not change what the check reports.
_write, _read, _exit, _listdir, _fstat = os.write, os.read, os._exit, os.listdir, os.fstat
_abspath, _realpath, _relpath, _normpath = (
    os.path.abspath,
    os.path.realpath,
    os.path.relpath,
    os.path.normpath,
)
_import_module = importlib.import_module
_open, _fsdecode, _monotonic = open, os.fsdecode, time.monotonic
_isinstance, _getattr, _type, _str, _len, _zip = isinstance, getattr, type, str, len, zip
_int, _ord, _min = int, ord, min
_dump_later = faulthandler.dump_traceback_later

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


def json_value(value):
    """`value` (None, an int or a str) as JSON."""
    if value is None:
        return "null"
    if _isinstance(value, _int):
        return "%d" % value
    out = []
    for ch in value:
        o = _ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif o < 0x20:
            out.append("\\u%04x" % o)
        elif 0xD800 <= o <= 0xDFFF:
            out.append("\ufffd")  # a lone surrogate (from surrogateescape) is no JSON
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def emit(event):
    try:
        event["stderr"] = _fstat(2).st_size
    except OSError:
        event["stderr"] = None
    text = ", ".join('"%s": %s' % (key, json_value(v)) for key, v in event.items())
    data = ("{" + text + "}\n").encode("utf-8", "replace")
    while data:
        data = data[_write(EVENTS, data) :]


def read_request():
    """The request: (site, dump_after, jobs), each job a dict as import_plugin takes it."""
    data, size = b"", None
    while size is None or _len(data) < size:
        chunk = _read(CONTROL, 65536)
        if not chunk:
            _exit(70)
        data += chunk
        if size is None and b"\n" in data:
            head, data = data.split(b"\n", 1)
            size = _int(head)
    fields = [_fsdecode(f) for f in data[:size].split(b"\0")]
    jobs = [
        {"dist": d, "module": m, "class": c, "record": r}
        for d, m, c, r in _zip(*[iter(fields[2:])] * 4)
    ]
    return fields[0], float(fields[1]), jobs


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
    if _len(MODULES) != _len(before["modules"]):
        for name, now in MODULES.copy().items():
            if now is None and name not in before["modules"]:
                # An import blocked for everyone after it (the server has imported much
                # more than this process, and may import it later).
                return "set sys.modules[%r] to None (blocking its import)" % (name,)
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


def first_fields(text):
    """The first field of each row of CSV `text` (as a wheel's RECORD writes it: a field
    with a comma, quote or line break is quoted, a quote in it doubled); empty rows are
    skipped."""
    fields, i, n = [], 0, _len(text)
    while i < n:
        if text[i] == '"':
            parts, j = [], i + 1
            while True:
                k = text.find('"', j)
                if k < 0:
                    parts.append(text[j:])
                    j = n
                    break
                parts.append(text[j:k])
                if text.startswith('"', k + 1):
                    parts.append('"')
                    j = k + 2
                else:
                    j = k + 1
                    break
            field = "".join(parts)
        else:
            ends = [e for e in (text.find(c, i) for c in ",\r\n") if e >= 0]
            j = _min(ends) if ends else n
            field = text[i:j]
        if field or not text.startswith(("\r", "\n"), j):
            fields.append(field)
        end = text.find("\n", j)
        i = n if end < 0 else end + 1
    return fields


def installed_files(record, site):
    """The files a RECORD lists, as normalised paths relative to `site`."""
    with _open(record, newline="", encoding="utf-8") as f:
        return {_normpath(field) for field in first_fields(f.read())}


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
    site, dump_after, jobs = read_request()
    _thread.start_new_thread(watch_parent, ())
    armed = None
    for i, job in enumerate(jobs):
        emit({"start": i})
        before = snapshot(site)
        if dump_after > 0:
            now = _monotonic()
            if armed is None or now - armed > dump_after / 20:
                _dump_later(dump_after, file=2)
                armed = now
        fail = import_plugin(job, site)
        poison = poisoning(before, site)
        emit({"done": i, "fail": fail, "poison": poison})
        if poison is not None:
            break
    _exit(0)


main()
