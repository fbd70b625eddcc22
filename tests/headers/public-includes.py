#!/usr/bin/env python3
# gst-nerv: the elements and tools include the public header only
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#   public-includes.py COMMON_DIR PUBLIC_HEADER DIR...   fails when a
#       source or header in a DIR includes a header of COMMON_DIR other
#       than PUBLIC_HEADER (but for the EXCEPTIONS below, each with its
#       reason), so that what the elements and tools use is the API of
#       nerv.h and the core's inside can change without them.
#   public-includes.py --self-test
import pathlib
import re
import sys
import tempfile

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)

# file name -> the internal headers it may include, and why
EXCEPTIONS = {
    # the training loop's own harness (docs/design.md's learning-rate
    # measurements): it drives a NervTrainer on a clip, which is the
    # core's inside by design (the codec's users never train alone); its
    # defaults are the encoder's, from nerv.h
    'nerv-train-tool.c': {'nerv-train.h'},
}


def violations(common, public, folders):
    internal = {p.name for p in pathlib.Path(common).glob('*.h')} - {public}
    found = []
    for folder in folders:
        for f in sorted(pathlib.Path(folder).iterdir()):
            if f.suffix not in ('.c', '.h'):
                continue
            allowed = EXCEPTIONS.get(f.name, set())
            for inc in INCLUDE.findall(f.read_text()):
                if inc in internal and inc not in allowed:
                    found.append('%s includes %s: include %s instead, or '
                                 'give nerv.h what it needs' % (f, inc, public))
    return found


def self_test():
    with tempfile.TemporaryDirectory() as tmp:
        d = pathlib.Path(tmp)
        (d / 'common').mkdir()
        (d / 'ext').mkdir()
        for h in ('nerv.h', 'nerv-codec.h', 'nerv-train.h'):
            (d / 'common' / h).write_text('\n')
        (d / 'ext' / 'a.c').write_text('#include "nerv.h"\n#include "a.h"\n')
        if violations(d / 'common', 'nerv.h', [d / 'ext']):
            print('self-test: a use of the public header refused')
            return False
        (d / 'ext' / 'b.h').write_text('#include <glib.h>\n#include "nerv-codec.h"\n')
        (d / 'ext' / 'nerv-train-tool.c').write_text('#include "nerv-train.h"\n')
        if len(violations(d / 'common', 'nerv.h', [d / 'ext'])) != 1:
            print('self-test: the internal include of b.h was not found alone')
            return False
    print('self-test: internal includes found, exceptions kept')
    return True


if __name__ == '__main__':
    if sys.argv[1:] == ['--self-test']:
        sys.exit(0 if self_test() else 1)
    bad = violations(sys.argv[1], sys.argv[2], sys.argv[3:])
    print('\n'.join(bad) if bad else 'only %s is included' % sys.argv[2])
    sys.exit(1 if bad else 0)
