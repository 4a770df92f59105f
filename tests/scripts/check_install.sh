#!/usr/bin/env bash
# check_install.sh — installs DiME into a fresh prefix, moves the prefix, then builds consumers of it with find_package(dime) and with pkg-config, runs them, and runs the installed `dime run`.
#
# Usage: check_install.sh BUILD_DIR CONSUMER_SRC WORK_DIR CMAKE CC VERSION
# Running programs under libdime.so needs userfaultfd: where it is not usable the test skips after
# the build checks (printing CLI-SKIPPED), unless DIME_REQUIRE_UFFD=1.
set -u
[ $# -eq 6 ] || { echo "usage: check_install.sh BUILD_DIR CONSUMER_SRC WORK_DIR CMAKE CC VERSION" >&2; exit 1; }
build=$1 consumer_src=$2 work=$3 cmake=$4 cc=$5 version=$6
unset DIME_CONFIG DIME_OPTIONS DIME_REPORT DIME_LIBRARY DIME_DISABLE LD_PRELOAD

die() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok   $*"; }

rm -rf "$work" && mkdir -p "$work" || die "cannot create $work"
cd "$work" || exit 1

"$cmake" --install "$build" --prefix "$work/prefix" >install.log 2>&1 || { cat install.log; die "cmake --install failed"; }
ok "cmake --install $build --prefix $work/prefix"
# Moved as a whole: every installed path must be relative to the prefix.
mv prefix moved
prefix=$work/moved

lib=$(find "$prefix" -name libdime.so -type f)
[ -n "$lib" ] && [ "$(echo "$lib" | wc -l)" = 1 ] || die "expected one libdime.so under the prefix, found: '$lib'"
libdir=$(dirname "$lib")
for f in "$prefix/bin/dime" "$libdir/cmake/dime/dimeConfig.cmake" "$libdir/cmake/dime/dimeConfigVersion.cmake" \
         "$libdir/pkgconfig/dime.pc"; do
    [ -f "$f" ] || die "not installed: $f"
done
[ -d "$prefix/include" ] || die "not installed: $prefix/include"
ok "installed: bin/dime, ${libdir#"$prefix"/}/libdime.so, the CMake package, dime.pc, include/ ($(cd "$prefix/include" && ls | tr '\n' ' '))"

# find_package(dime)
"$cmake" -S "$consumer_src" -B cmake-build -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" \
    -DDIME_EXPECTED_VERSION="$version" >cmake-build.log 2>&1 || { cat cmake-build.log; die "configuring the find_package(dime) consumer failed"; }
grep -qF -- "dime::dime: $lib" cmake-build.log || { cat cmake-build.log; die "dime::dime does not point at $lib"; }
"$cmake" --build cmake-build >>cmake-build.log 2>&1 || { cat cmake-build.log; die "building the find_package(dime) consumer failed"; }
readelf -d cmake-build/consumer | grep -q 'NEEDED.*\[libdime.so\]' || die "the find_package consumer does not link libdime.so"
ok "find_package(dime $version) consumer built against $lib"

# A newer minor version must not be accepted.
"$cmake" -S "$consumer_src" -B cmake-build-wrong -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" \
    -DDIME_EXPECTED_VERSION=99.0 >cmake-build-wrong.log 2>&1 && die "find_package(dime 99.0 EXACT) succeeded"
ok "find_package(dime 99.0 EXACT) refused"

# pkg-config
export PKG_CONFIG_PATH="$libdir/pkgconfig"
pc_version=$(pkg-config --modversion dime) || die "pkg-config does not find dime.pc"
[ "$pc_version" = "$version" ] || die "pkg-config --modversion dime is '$pc_version', expected $version"
pc_libdir=$(pkg-config --variable=libdir dime)
[ "$(readlink -f "$pc_libdir")" = "$(readlink -f "$libdir")" ] || die "dime.pc's libdir '$pc_libdir' is not $libdir"
# shellcheck disable=SC2046  # pkg-config's flags are meant to split
"$cc" -o pc-consumer "$consumer_src/consumer.c" $(pkg-config --cflags --libs dime) -Wl,-rpath,"$pc_libdir" 2>pc-build.log ||
    { cat pc-build.log; die "building the pkg-config consumer failed"; }
readelf -d pc-consumer | grep -q 'NEEDED.*\[libdime.so\]' || die "the pkg-config consumer does not link libdime.so"
ok "pkg-config consumer built: $(pkg-config --cflags --libs dime)"
"$cc" -o plain "$consumer_src/consumer.c" || die "building the plain consumer failed"

"$prefix/bin/dime" --version >version.txt 2>&1 || die "the installed dime --version failed: $(cat version.txt)"
grep -qx "dime $version" version.txt || die "the installed dime --version says: $(cat version.txt)"
grep -qx "libdime.so: $(readlink -f "$lib")" version.txt || die "the installed dime would not preload the installed libdime.so: $(cat version.txt)"
ok "installed dime: $(tr '\n' ' ' <version.txt)"

probe=$(LD_PRELOAD=$lib DIME_OPTIONS="local_npages=64 summary=no" /bin/true 2>&1)
case $probe in *"userfaultfd is not permitted"*|*"has no userfaultfd"*)
    if [ "${DIME_REQUIRE_UFFD:-}" != 1 ]; then echo "CLI-SKIPPED: userfaultfd is not usable here; the install and the builds passed"; exit 0; fi ;;
esac

export DIME_OPTIONS="local_npages=256 latency_ns=0 summary=no"
for program in cmake-build/consumer pc-consumer; do
    out=$("./$program" 2>&1) || die "$program exited with $?: $out"
    [ "$out" = "consumer: ok" ] || die "$program printed: $out"
    ok "$program runs"
done
unset DIME_OPTIONS

"$prefix/bin/dime" run --set local_npages=256,latency_ns=0,summary=no --report run.json -- sh -c 'echo "$LD_PRELOAD"; exec ./plain' >run.out 2>&1 ||
    die "the installed dime run ./plain exited with $?: $(cat run.out)"
[ "$(head -n 1 run.out)" = "$(readlink -f "$lib")" ] || die "the installed dime run preloaded '$(head -n 1 run.out)', not $lib"
grep -qx "consumer: ok" run.out || die "./plain under the installed dime run printed: $(cat run.out)"
for counter in faults evictions; do
    value=$("$cmake" -DFILE=run.json -DKEYS="totals;$counter" -P "$(dirname "$0")/json_get.cmake" 2>&1)
    [[ $value =~ ^[0-9]+$ ]] && [ "$value" -gt 0 ] || die "report totals.$counter is '$value', expected > 0"
    eval "$counter=$value"
done
ok "installed dime run -- ./plain: report shows $faults faults, $evictions evictions with a pool of 256 pages"
echo "check_install.sh: all checks passed"
