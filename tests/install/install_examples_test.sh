#!/usr/bin/env bash
# Issue 6, must-demonstrate: "examples/ build against the installed
# package". Installs the build to a temporary prefix, checks what landed
# there, builds examples/ once with find_package(lockq) and once with
# pkg-config, then runs every built example against a real single-node
# lockqd (the installed one) and checks what each reports.
#
#   install_examples_test.sh --build-dir DIR --source-dir DIR
#
# Run by ctest as client_install_examples. Every wait is bounded; lockqd
# is killed and the prefix removed on exit (KEEP_TMP=1 keeps the prefix).
set -euo pipefail

BUILD= SRC=
while [[ $# -gt 0 ]]; do
  case $1 in
    --build-dir) BUILD=$2; shift 2 ;;
    --source-dir) SRC=$2; shift 2 ;;
    *) echo "usage: $0 --build-dir DIR --source-dir DIR" >&2; exit 2 ;;
  esac
done
[[ -n $BUILD && -n $SRC ]] || { echo "usage: $0 --build-dir DIR --source-dir DIR" >&2; exit 2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/lockq-install-XXXXXX")
PREFIX=$TMP/prefix
LOCKQD_PID=
cleanup() {
  local rc=$?
  if [[ -n $LOCKQD_PID ]]; then
    kill "$LOCKQD_PID" 2>/dev/null || true
    wait "$LOCKQD_PID" 2>/dev/null || true
  fi
  if [[ $rc -ne 0 && -f $TMP/lockqd.log ]]; then
    echo "--- lockqd log (last 40 lines) ---"; tail -n 40 "$TMP/lockqd.log"
  fi
  if [[ ${KEEP_TMP:-0} == 1 ]]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 143' TERM INT

step() { echo "== $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# ctest does not build: bring what is installed up to date (a no-op after
# a full build).
step "build the installed targets"
cmake --build "$BUILD" --target lockq_installables

step "install to $PREFIX"
cmake --install "$BUILD" --prefix "$PREFIX" > "$TMP/install.log"
for f in lib/liblockq_client.a lib/liblockq_resp.a lib/liblockq_common.a \
         lib/cmake/lockq/lockqConfig.cmake lib/cmake/lockq/lockqConfigVersion.cmake \
         lib/cmake/lockq/lockqTargets.cmake lib/pkgconfig/lockq.pc \
         include/lockq/client.h bin/lockqd; do
  [[ -f $PREFIX/$f ]] || fail "cmake --install did not install $f"
done
# Exactly the public headers, and each one compiles on its own with only
# the installed include directory (nothing of src/ may leak in).
diff <(cd "$SRC/include/lockq" && ls) <(cd "$PREFIX/include/lockq" && ls) \
  || fail "installed headers differ from include/lockq"
for h in "$PREFIX"/include/lockq/*.h; do
  echo "#include <lockq/$(basename "$h")>" \
    | c++ -std=c++20 -fsyntax-only -Wall -I"$PREFIX/include" -x c++ - \
    || fail "<lockq/$(basename "$h")> does not compile with -I$PREFIX/include alone"
done
# Users often build with -Wextra -Werror: the public headers must be clean.
echo "#include <lockq/client.h>" \
  | c++ -std=c++20 -fsyntax-only -Wall -Wextra -Werror -I"$PREFIX/include" -x c++ - \
  || fail "<lockq/client.h> is not clean under -Wall -Wextra -Werror"

step "build examples/ with find_package(lockq)"
cmake -S "$SRC/examples" -B "$TMP/build-cmake" -G Ninja \
  -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF > "$TMP/cmake.log" \
  || { cat "$TMP/cmake.log"; fail "configuring examples/ against $PREFIX"; }
found=$(sed -n 's/^lockq_DIR:PATH=//p' "$TMP/build-cmake/CMakeCache.txt")
[[ $found == "$PREFIX/lib/cmake/lockq" ]] || fail "find_package(lockq) found '$found', not the installed package"
cmake --build "$TMP/build-cmake" -j2

step "build examples/ with pkg-config"
export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig
cflags=$(pkg-config --cflags lockq | xargs)  # xargs: without the trailing blank
[[ $cflags == "-I$PREFIX/include" ]] || fail "pkg-config --cflags lockq gives '$cflags'"
make -s -C "$SRC/examples" BUILD="$TMP/build-pkgconfig" -j2
for e in counter election work_queue fenced_write; do
  [[ -x $TMP/build-cmake/$e && -x $TMP/build-pkgconfig/$e ]] || fail "example $e was not built"
done

step "start lockqd"
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# A RESP write answered +OK: the node is up and has elected itself.
ready() {
  { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
  printf '*3\r\n$3\r\nSET\r\n$5\r\nready\r\n$1\r\n1\r\n' >&3
  local line=
  IFS= read -r -t 3 line <&3 || true
  exec 3>&-
  [[ $line == +OK* ]]
}
# lockqd dies with this script even when it is SIGKILLed (a ctest timeout).
DIE_WITH_US=()
if setpriv --help 2>/dev/null | grep -q pdeathsig; then DIE_WITH_US=(setpriv --pdeathsig KILL); fi
started=
for attempt in 1 2 3; do  # a picked port may be taken meanwhile
  PORT=$(free_port) RAFT=$(free_port)
  "${DIE_WITH_US[@]}" "$PREFIX/bin/lockqd" --node-id 1 --data-dir "$TMP/data$attempt" --resp-port "$PORT" \
    --raft-addr "127.0.0.1:$RAFT" --amqp-port 0 --http-port 0 \
    --election-timeout-ms 300 --heartbeat-timeout-ms 50 >> "$TMP/lockqd.log" 2>&1 &
  LOCKQD_PID=$!
  for _ in $(seq 150); do  # 30 s
    kill -0 "$LOCKQD_PID" 2>/dev/null || break
    if ready "$PORT"; then started=1; break; fi
    sleep 0.2
  done
  [[ -n $started ]] && break
  kill "$LOCKQD_PID" 2>/dev/null || true; wait "$LOCKQD_PID" 2>/dev/null || true; LOCKQD_PID=
done
[[ -n $started ]] || fail "lockqd did not become ready"
export LOCKQ_SERVER=127.0.0.1:$PORT  # the examples' default endpoint
echo "lockqd pid $LOCKQD_PID on $LOCKQ_SERVER"

# run NAME BUILD ARGS...: runs one example (bounded), output in $TMP/NAME.BUILD.out.
run() {
  local name=$1 build=$2; shift 2
  local out=$TMP/$name.$build.out
  if ! timeout 90 "$TMP/build-$build/$name" "$@" > "$out" 2>&1; then
    cat "$out"; fail "$name ($build build) exited with an error"
  fi
  sed "s/^/  [$name.$build] /" "$out"
}

step "counter: both builds at once, 50 increments each"
run counter cmake "$LOCKQ_SERVER" 50 & c1=$!
run counter pkgconfig "" 50 & c2=$!  # "" -> LOCKQ_SERVER
wait $c1 || exit 1
wait $c2 || exit 1
final=$(sed -n 's/.*counter = //p' "$TMP"/counter.*.out | sort -n | tail -1)
[[ $final == 100 ]] || fail "counter: the last finisher read $final, expected 100"

step "election: both builds campaign at once"
run election cmake "$LOCKQ_SERVER" 500 & e1=$!
run election pkgconfig "$LOCKQ_SERVER" 500 & e2=$!
wait $e1 || exit 1
wait $e2 || exit 1
t1=$(sed -n 's/.* leads with token //p' "$TMP/election.cmake.out")
t2=$(sed -n 's/.* leads with token //p' "$TMP/election.pkgconfig.out")
[[ -n $t1 && -n $t2 && $t1 != "$t2" ]] || fail "election: expected two leaderships with different tokens ($t1, $t2)"

step "work_queue: publish with confirms, two competing consumers"
# A queue per run: the first run's last acks may still be settling.
run work_queue cmake "$LOCKQ_SERVER" 500 test:jobs-cmake
grep -q "distinct jobs done: 500 of 500" "$TMP/work_queue.cmake.out" || fail "work_queue (cmake build)"
run work_queue pkgconfig "$LOCKQ_SERVER" 200 test:jobs-pkgconfig
grep -q "distinct jobs done: 200 of 200" "$TMP/work_queue.pkgconfig.out" || fail "work_queue (pkgconfig build)"

step "fenced_write: the stale token is refused"
for b in cmake pkgconfig; do
  run fenced_write "$b" "$LOCKQ_SERVER"
  grep -q "stale write refused: FailedPrecondition: STALETOKEN" "$TMP/fenced_write.$b.out" \
    || fail "fenced_write ($b build): no STALETOKEN refusal"
done

echo "PASS: examples built against $PREFIX with find_package and pkg-config, and ran against lockqd"
