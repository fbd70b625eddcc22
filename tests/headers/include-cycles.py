#!/usr/bin/env python3
# gst-nerv: include-circle check
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#   include-cycles.py DIR HEADER...   fails when the modules of DIR depend
#       on each other in a circle, or when a header of DIR (other than the
#       generated *-dist.h) is not among the HEADERs that the header tests
#       compile alone. Module X (X.h and X.c) depends on Y when X.h or X.c
#       has '#include "Y.h"': a circle through a source file (bitstream.h
#       includes train.h, train.c includes y4m.h, y4m.h includes
#       bitstream.h) counts as well as one among headers.
#   include-cycles.py --list DIR      prints DIR's headers (for meson)
#   include-cycles.py --self-test     shows that a circle is found
import pathlib
import re
import sys
import tempfile

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def include_graph(folder):
    """Module (header name) -> the headers its header and source include."""
    headers = {p.name for p in folder.glob('*.h')
               if not p.name.endswith('-dist.h')}
    graph = {}
    for name in headers:
        deps = set()
        for part in (folder / name, folder / (name[:-2] + '.c')):
            if part.exists():
                deps.update(i for i in INCLUDE.findall(part.read_text())
                            if i in headers and i != name)
        graph[name] = sorted(deps)
    return graph


def find_cycle(graph):
    """A list of headers that include each other in a circle, or None."""
    state = {}                  # absent: unseen, 1: on the path, 2: done
    path = []

    def visit(node):
        state[node] = 1
        path.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def check(folder, listed):
    graph = include_graph(folder)
    ok = True
    cycle = find_cycle(graph)
    if cycle:
        print('include circle: ' + ' -> '.join(cycle))
        ok = False
    for name in sorted(set(graph) - set(listed)):
        print('%s is not compiled alone: a new header, re-run meson setup '
              '--reconfigure' % name)
        ok = False
    if ok:
        print('%d modules, no include circle' % len(graph))
    return ok


def self_test():
    with tempfile.TemporaryDirectory() as tmp:
        d = pathlib.Path(tmp)
        (d / 'a.h').write_text('#include "b.h"\n')
        (d / 'b.h').write_text('#include <glib.h>\n#include "c.h"\n')
        (d / 'c.h').write_text('#include "a.h"\n')
        (d / 'd.h').write_text('#include "a.h"\n')
        if find_cycle(include_graph(d)) != ['a.h', 'b.h', 'c.h', 'a.h']:
            print('self-test: the circle a -> b -> c -> a was not found')
            return False
        # through a source file: c.c includes a.h
        (d / 'c.h').write_text('\n')
        (d / 'c.c').write_text('#include "c.h"\n#include "a.h"\n')
        if find_cycle(include_graph(d)) != ['a.h', 'b.h', 'c.h', 'a.h']:
            print('self-test: the circle through c.c was not found')
            return False
        (d / 'c.c').write_text('#include "c.h"\n')
        if find_cycle(include_graph(d)) is not None:
            print('self-test: a circle found where there is none')
            return False
    print('self-test: circles found, none invented')
    return True


if __name__ == '__main__':
    if sys.argv[1:] == ['--self-test']:
        sys.exit(0 if self_test() else 1)
    if sys.argv[1] == '--list':
        print('\n'.join(sorted(include_graph(pathlib.Path(sys.argv[2])))))
        sys.exit(0)
    sys.exit(0 if check(pathlib.Path(sys.argv[1]), sys.argv[2:]) else 1)
