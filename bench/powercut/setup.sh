#!/usr/bin/env bash
# bench/powercut/setup.sh: install LazyFS's Debian dependencies and build LazyFS from a
# pinned source, for bench/powercut/run.py.
#
# LazyFS (github.com/dsrhaslab/lazyfs) is a FUSE file system with its own page cache;
# "lazyfs::clear-cache" on its control FIFO drops every byte that was not fsynced,
# which is what a power cut does to the kernel's page cache.
#
# Source (this script never downloads anything):
#   LAZYFS_SRC     a checkout of github.com/dsrhaslab/lazyfs at commit $PIN below
#                  (default /tmp/lazyfs-src). It is verified with `git rev-parse HEAD`
#                  (and must have no local changes under lazyfs/ and libs/), or, for a
#                  tree that is not a git checkout (an unpacked archive), by a file
#                  COMMIT at its top holding the commit id. Anything else is refused.
#   LAZYFS_MIRROR  optional: a bare clone (mirror) of the same repository. When
#                  LAZYFS_SRC holds no source, the pinned commit is exported from the
#                  mirror into LAZYFS_SRC (with a COMMIT file). A bare repository given
#                  as LAZYFS_SRC is treated the same way.
# Output: $LAZYFS_BUILD/lazyfs/build/lazyfs (default LAZYFS_BUILD=/tmp/lazyfs-build) and
#   $LAZYFS_BUILD/COMMIT, which names the commit.
#   A build with the same stamp is reused, so running this again is cheap.
# JOBS (default 1) sets build parallelism. Run as root (apt-get; /etc/fuse.conf).
#
# Upstream's CMake fetches toml11 v3.7.1 and spdlog v1.10.0 from GitHub at configure
# time. Debian bookworm ships exactly those versions (libtoml11-dev 3.7.1,
# libspdlog-dev 1.10.0), so the build copy's CMake files are rewritten to use them.
set -euo pipefail

PIN=a47a5baea559020f29902662de77764b0cbd62ce   # LazyFS 0.3.0-21-ga47a5ba, 2024-06-28
SRC=${LAZYFS_SRC:-/tmp/lazyfs-src}
MIRROR=${LAZYFS_MIRROR:-}
BUILD=${LAZYFS_BUILD:-/tmp/lazyfs-build}
JOBS=${JOBS:-1}

say() { echo "powercut/setup: $*"; }
die() { echo "powercut/setup: $*" >&2; exit 2; }

# ---- 1. Debian packages -------------------------------------------------------------
PKGS=(fuse3 libfuse3-dev cmake g++ make pkg-config libspdlog-dev libtoml11-dev libfmt-dev git)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
else
  say "Debian packages present"
fi
command -v fusermount3 >/dev/null || die "fusermount3 missing after install"
[ -e /dev/fuse ] || say "WARNING: /dev/fuse does not exist; LazyFS cannot mount here"

# FUSE's allow_other (LazyFS is mounted with it) needs this for non-root users.
if [ -w /etc/fuse.conf ] && ! grep -q '^[[:space:]]*user_allow_other' /etc/fuse.conf; then
  echo user_allow_other >> /etc/fuse.conf
  say "added user_allow_other to /etc/fuse.conf"
fi

# ---- 2. The pinned source ---------------------------------------------------------------
is_bare() { [ "$(git -C "$1" rev-parse --is-bare-repository 2>/dev/null)" = true ]; }
if [ -d "$SRC" ] && is_bare "$SRC"; then
  MIRROR=$SRC
  SRC=/tmp/lazyfs-src-${PIN:0:7}
  say "LAZYFS_SRC is a bare repository: exporting $PIN from it into $SRC"
fi
if [ ! -f "$SRC/lazyfs/src/main.cpp" ] && [ -n "$MIRROR" ]; then
  is_bare "$MIRROR" || git --git-dir="$MIRROR" rev-parse --git-dir >/dev/null 2>&1 \
    || die "LAZYFS_MIRROR=$MIRROR is not a git repository"
  git --git-dir="$MIRROR" cat-file -e "$PIN^{commit}" 2>/dev/null \
    || die "the mirror $MIRROR does not hold commit $PIN"
  [ ! -e "$SRC" ] || [ -z "$(ls -A "$SRC")" ] || die "$SRC exists and is not a LazyFS source tree; remove it or point LAZYFS_SRC elsewhere"
  mkdir -p "$SRC"
  # Only the two folders the build needs, each as a subtree (a mirror may lack some
  # large test data elsewhere). The result is a plain tree, so the commit goes into COMMIT.
  for d in lazyfs libs; do
    git --git-dir="$MIRROR" archive --prefix="$d/" "$PIN:$d" | tar -x -C "$SRC"
  done
  git --git-dir="$MIRROR" show "$PIN:LICENSE" > "$SRC/LICENSE"
  echo "$PIN" > "$SRC/COMMIT"
  say "exported $PIN from $MIRROR into $SRC"
fi
if [ ! -f "$SRC/lazyfs/src/main.cpp" ]; then
  cat >&2 <<MSG
powercut/setup: no LazyFS source at $SRC.
  This script downloads nothing. Get the source of github.com/dsrhaslab/lazyfs at
  commit $PIN on any machine that can, and bring it here, e.g.:
    git clone https://github.com/dsrhaslab/lazyfs && git -C lazyfs checkout $PIN
  then run: LAZYFS_SRC=/path/to/lazyfs $0
  (or LAZYFS_MIRROR=/path/to/a/bare/mirror $0, which exports the commit into $SRC).
MSG
  exit 2
fi
SRC=$(cd "$SRC" && pwd)
if [ "$(git -C "$SRC" rev-parse --show-toplevel 2>/dev/null)" = "$SRC" ]; then
  COMMIT=$(git -C "$SRC" rev-parse HEAD)
  [ "$COMMIT" = "$PIN" ] || die "$SRC is at commit $COMMIT, not the pinned $PIN (git -C $SRC checkout $PIN)"
  git -C "$SRC" diff --quiet HEAD -- lazyfs libs \
    || die "$SRC has local changes under lazyfs/ or libs/; the build uses the pinned commit as it is"
  how="git checkout"
elif [ -f "$SRC/COMMIT" ]; then
  COMMIT=$(tr -d '[:space:]' < "$SRC/COMMIT")
  [ "$COMMIT" = "$PIN" ] || die "$SRC/COMMIT says $COMMIT, not the pinned $PIN"
  how="COMMIT file"
else
  die "cannot tell which commit $SRC is: it is not a git checkout and has no COMMIT file"
fi
say "LazyFS source $SRC at $PIN ($how)"

STAMP=$PIN

# ---- 3. Build ------------------------------------------------------------------------
BIN="$BUILD/lazyfs/build/lazyfs"

build_lazyfs() {
  say "building LazyFS $STAMP in $BUILD (JOBS=$JOBS; about 1.5 min on one core)"
  rm -rf "$BUILD"
  mkdir -p "$BUILD"
  cp -a "$SRC/libs" "$SRC/lazyfs" "$BUILD/"
  rm -rf "$BUILD/libs/libpcache/build" "$BUILD/lazyfs/build"

  python3 - "$BUILD" <<'PY'
import re, sys, pathlib
b = pathlib.Path(sys.argv[1])
# libpcache: Debian's toml11 and spdlog instead of FetchContent downloads.
p = b / "libs/libpcache/CMakeLists.txt"
t = p.read_text()
t2, n = re.subn(r"include\(FetchContent\).*?POSITION_INDEPENDENT_CODE ON\)",
                "find_package(toml11 REQUIRED)\nfind_package(spdlog REQUIRED)", t, flags=re.S)
assert n == 1, "libpcache CMakeLists.txt: FetchContent block not found"
t3 = t2.replace("target_link_libraries(pcache toml11::toml11 spdlog)",
                "target_link_libraries(pcache PUBLIC toml11::toml11 spdlog::spdlog)")
assert t3 != t2, "libpcache CMakeLists.txt: link line not found"
p.write_text(t3)
# lazyfs: link spdlog/toml11 from Debian, find libpcache by path, no tests (they download gtest).
p = b / "lazyfs/CMakeLists.txt"
t = p.read_text()
t2 = t.replace("find_package(Threads REQUIRED)",
               "find_package(Threads REQUIRED)\nfind_package(toml11 REQUIRED)\nfind_package(spdlog REQUIRED)")
assert t2 != t, "lazyfs CMakeLists.txt: find_package(Threads) not found"
t3 = t2.replace("target_link_libraries(${CMAKE_PROJECT_NAME} fuse3 Threads::Threads libpcache.so)",
                "target_link_libraries(${CMAKE_PROJECT_NAME} fuse3 Threads::Threads\n"
                "    ${CMAKE_CURRENT_SOURCE_DIR}/../libs/libpcache/build/libpcache.so spdlog::spdlog toml11::toml11)")
assert t3 != t2, "lazyfs CMakeLists.txt: link line not found"
p.write_text(t3)
# Nothing may be fetched at build time (lazyfs's own FetchContent is for its tests, off).
assert "FetchContent" not in (b / "libs/libpcache/CMakeLists.txt").read_text()
PY

  (cd "$BUILD/libs/libpcache" && cmake -S . -B build -DCMAKE_BUILD_TYPE=Release \
     -DFETCHCONTENT_FULLY_DISCONNECTED=ON --no-warn-unused-cli >/dev/null && nice cmake --build build -j "$JOBS")
  (cd "$BUILD/lazyfs" && cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DLAZYFS_BUILD_TESTS=OFF \
     -DFETCHCONTENT_FULLY_DISCONNECTED=ON --no-warn-unused-cli >/dev/null && nice cmake --build build -j "$JOBS")
  [ -x "$BIN" ] || die "build finished but $BIN is missing"
  if ldd "$BIN" | grep -q 'not found'; then
    say "unresolved libraries:"; ldd "$BIN" | grep 'not found'; exit 1
  fi
  echo "$STAMP" > "$BUILD/COMMIT"   # written last: a half-done build has no stamp
  say "built $BIN (LazyFS $STAMP)"
}

if [ -x "$BIN" ] && [ "$(cat "$BUILD/COMMIT" 2>/dev/null)" = "$STAMP" ] && ! ldd "$BIN" | grep -q 'not found'; then
  say "LazyFS $STAMP already built: $BIN"
else
  build_lazyfs
fi
say "ready: bench/powercut/run.py --rounds 3   (LAZYFS_BIN=$BIN if LAZYFS_BUILD is not the default)"
