#!/usr/bin/env python3
"""The layer rule as a test (ctest layer_rule, label unit).

Reads every #include in src/ and include/lockq/ and checks it against the
table below (docs/architecture.md "Layers"). The build already keeps a
library from including the headers of libraries it does not link
(cmake/LockqLayers.cmake); this test also catches what include paths cannot:

  - system headers: <uv.h> and <raft.h> sit in /usr/include, visible to all.
    raft.h (and <raft/...>) only in src/consensus, and never reachable from
    consensus/node.h, the one consensus header the server uses; uv.h only in
    consensus, net and server. Checked through project headers too: a
    server file that includes consensus/fsm_adapter.h pulls raft.h in.
  - the public folder include/lockq, one folder that every library sees;
  - a folder without a row (a new library must be given one here).

  layers_check.py [--root DIR]     exit 1 and one line per violation
"""

import argparse
import os
import re
import sys

# folder -> folders whose headers it may include ("lockq" is include/lockq,
# the public client API). A folder may always include its own headers.
ALLOWED = {
    "lockq": set(),
    # common/status.h forwards to status.h; grant.cc implements grant.h
    "common": {"lockq/status.h", "lockq/grant.h"},
    # sm::Reply aliases lockq::Reply; grants are signed with lockq/grant.h
    "sm": {"common", "lockq/status.h", "lockq/reply.h", "lockq/grant.h"},
    "resp": {"common", "lockq"},
    "amqp": {"common"},
    "consensus": {"common", "net"},
    "net": {"common"},
    "dispatch": {"common", "sm"},
    "server": {"common", "sm", "resp", "amqp", "consensus", "net", "dispatch", "lockq"},
    "client": {"common", "resp", "lockq", "net/tls.h"},  # the TLS engine only: no libuv
    "cli": {"common", "client", "lockq"},
}
# System headers a folder may not pull in, directly or through project headers.
UV = "uv.h"
RAFT = "raft"  # <raft.h> and <raft/...>
FORBIDDEN_SYSTEM = {folder: {UV, RAFT} for folder in ALLOWED}
FORBIDDEN_SYSTEM["consensus"] = set()
FORBIDDEN_SYSTEM["net"] = {RAFT}
FORBIDDEN_SYSTEM["server"] = {RAFT}
# Headers that must stay free of a system header their folder may use.
KEEP_OUT = {"consensus/node.h": {RAFT}}

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def system_key(name):
    if name == "uv.h":
        return UV
    if name == "raft.h" or name.startswith("raft/"):
        return RAFT
    return None


def scan(root):
    """Returns {project path ("sm/command.h"): [(line, kind, name)]}."""
    files = {}
    for base in (os.path.join(root, "src"), os.path.join(root, "include")):
        for dirpath, _, names in os.walk(base):
            for n in names:
                if not n.endswith((".h", ".cc")):
                    continue
                full = os.path.join(dirpath, n)
                rel = os.path.relpath(full, base)
                incs = []
                with open(full, encoding="utf-8", errors="replace") as f:
                    for i, line in enumerate(f, 1):
                        m = INCLUDE_RE.match(line)
                        if m:
                            incs.append((i, m.group(1), m.group(2)))
                files[rel] = incs
    return files


def project_target(files, kind, name):
    """The project file an include names, or None for a system header."""
    if name in files:
        return name
    if kind == '"':
        return name  # unknown: reported by the caller
    return None


def system_closure(files, path, memo, stack=()):
    """System keys (UV, RAFT) reachable from `path` through project headers."""
    if path in memo:
        return memo[path]
    if path in stack:
        return set()
    found = set()
    for _, kind, name in files.get(path, []):
        key = system_key(name) if kind == "<" else None
        if key:
            found.add(key)
        target = project_target(files, kind, name)
        if target in files:
            found |= system_closure(files, target, memo, stack + (path,))
    memo[path] = found
    return found


def allowed_include(folder, name):
    first = name.split("/", 1)[0]
    if first == folder:
        return True
    allow = ALLOWED[folder]
    return first in allow or name in allow


def check(root):
    files = scan(root)
    memo = {}
    errors = []
    for path in sorted(files):
        folder = path.split("/", 1)[0]
        where = ("include/" if folder == "lockq" else "src/") + path
        if folder not in ALLOWED:
            errors.append(f"{where}: folder '{folder}' has no row in tests/unit/layers_check.py "
                          "(and docs/architecture.md 'Layers')")
            continue
        for line, kind, name in files[path]:
            key = system_key(name) if kind == "<" else None
            if key in FORBIDDEN_SYSTEM[folder]:
                errors.append(f"{where}:{line}: <{name}> is not allowed in {folder}")
            target = project_target(files, kind, name)
            if target is None:
                continue
            if target not in files:
                errors.append(f'{where}:{line}: "{name}" is not a header of src/ or include/ '
                              '(include headers by folder: "sm/command.h")')
                continue
            if not allowed_include(folder, name):
                allow = ", ".join(sorted(ALLOWED[folder] | {folder}))
                errors.append(f'{where}:{line}: "{name}" is not allowed in {folder} (may use: {allow})')
                continue
            if target.split("/", 1)[0] == folder:
                continue  # a forbidden system header in it is reported where it is included
            leaked = system_closure(files, target, memo) & FORBIDDEN_SYSTEM[folder]
            for key in sorted(leaked):
                errors.append(f'{where}:{line}: "{name}" pulls in <{key}...>, not allowed in {folder}')
        for key in sorted(system_closure(files, path, memo) & KEEP_OUT.get(path, set())):
            errors.append(f"src/{path}: must not pull in <{key}...> (it is included outside its folder)")
    return errors


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=os.path.join(os.path.dirname(__file__), "..", ".."))
    args = parser.parse_args()
    errors = check(os.path.abspath(args.root))
    for e in errors:
        print(e)
    if errors:
        print(f"layer rule: {len(errors)} violation(s); see docs/architecture.md 'Layers'")
        return 1
    print("layer rule: every #include in src/ and include/lockq/ is allowed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
