#!/bin/sh
# nerv-tool keeps files safe (issue 15, item 8) and walks hostile streams in
# linear time (item 1): refuses the input as output, refuses to overwrite
# without -y, leaves the output alone when nothing was coded, and exits
# non-zero then.
# SPDX-License-Identifier: LGPL-2.1-or-later
#   nerv-tool-files.sh NERV_TOOL NERV_HOSTILE
set -u
abspath() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
tool=$(abspath "$1") hostile=$(abspath "$2")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
fails=0

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# expect STATUS (0 or nz) CMD...: run, check the exit status
expect() {
  want=$1; shift
  "$@" > out.log 2>&1; st=$?
  if [ "$want" = 0 ] && [ $st -ne 0 ]; then fail "exit $st: $* ($(tail -n 2 out.log))"; fi
  if [ "$want" = nz ] && [ $st -eq 0 ]; then fail "exit 0: $*"; fi
}
same() { cmp -s "$1" "$2" || fail "$1 changed"; }

# a 16x16 clip of 3 frames, and one with no frame
{
  printf 'YUV4MPEG2 W16 H16 F25:1 Ip A1:1 C420jpeg\n'
  for f in 1 2 3; do printf 'FRAME\n'; head -c 384 /dev/urandom; done
} > in.y4m
printf 'YUV4MPEG2 W16 H16 F25:1 Ip A1:1 C420jpeg\n' > empty.y4m
cp in.y4m in.bak
enc="-m grid --epochs-key 1 --epochs-delta 1 --qat-epochs 0 -t 1"

# the input as output: refused, the input intact
expect nz "$tool" encode in.y4m in.y4m $enc
same in.y4m in.bak
expect nz "$tool" encode -y in.y4m in.y4m $enc
same in.y4m in.bak
ln -s in.y4m link.y4m
expect nz "$tool" encode -y in.y4m link.y4m $enc
same in.y4m in.bak

# a new output; again without -y refused and kept; with -y replaced
expect 0 "$tool" encode in.y4m out.nerv $enc
[ -s out.nerv ] || fail "no out.nerv"
cp out.nerv out.bak
echo junk > out.nerv; cp out.nerv junk.bak
expect nz "$tool" encode in.y4m out.nerv $enc
same out.nerv junk.bak
expect 0 "$tool" encode in.y4m out.nerv -y $enc
cmp -s out.nerv junk.bak && fail "out.nerv not replaced with -y"
cp out.nerv out.bak
ls out.nerv.* > /dev/null 2>&1 && fail "temporary files left: $(ls out.nerv.*)"

# decode: the input as output refused; a new output; no overwrite without -y
expect nz "$tool" decode -y out.nerv out.nerv
same out.nerv out.bak
expect 0 "$tool" decode out.nerv dec.y4m
[ -s dec.y4m ] || fail "no dec.y4m"
cp dec.y4m dec.bak
expect nz "$tool" decode out.nerv dec.y4m
same dec.y4m dec.bak
expect 0 "$tool" decode -y out.nerv dec.y4m

# nothing coded: non-zero, the output not created or left as it was
expect nz "$tool" encode empty.y4m new.nerv $enc
[ -e new.nerv ] && fail "new.nerv written from a clip without frames"
expect nz "$tool" encode -y empty.y4m out.nerv $enc
same out.nerv out.bak
: > empty.nerv
head -c 1000 /dev/urandom > junk.nerv
for bad in empty.nerv junk.nerv; do
  expect nz "$tool" decode $bad new.y4m
  [ -e new.y4m ] && fail "new.y4m written from $bad"
  expect nz "$tool" decode -y $bad dec.y4m
  same dec.y4m dec.bak
  expect nz "$tool" info $bad
done
ls ./*.XXXXXX ./*.nerv.?????? ./*.y4m.?????? > /dev/null 2>&1 && fail "temporary files left"

# linear work on 1 MiB of candidate packets after a valid stream: at most
# 40 bytes CRC'd per byte (the quadratic walk CRC'd ~65 GB)
"$hostile" resync 1048576 h.nerv || fail "nerv-hostile"
size=$(wc -c < h.nerv)
for cmd in info decode; do
  if [ $cmd = decode ]; then set -- decode -y h.nerv h.y4m; else set -- info h.nerv; fi
  NERV_TOOL_WORK=1 "$tool" "$@" > work.log 2>&1
  crc=$(sed -n 's/.*work: \([0-9]*\) bytes.*/\1/p' work.log)
  [ -n "$crc" ] || { fail "$cmd: no work line"; continue; }
  [ "$crc" -le $((40 * size)) ] || fail "$cmd: $crc bytes CRC'd for $size"
done
grep -q "decoded frames=6" work.log || fail "decode of h.nerv: $(cat work.log)"

[ $fails = 0 ] && echo "all nerv-tool file checks passed"
exit $((fails > 0))
