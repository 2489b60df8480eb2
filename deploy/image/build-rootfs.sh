#!/usr/bin/env bash
# Builds the part of the Arrakis image that is not the application: a jlink'd JRE in /opt/java, the
# glibc and C++ runtime files that it and ND4J's native libraries load, and a few files in /etc.
# Jib (deploy/pom.xml) puts this tree on top of `scratch`, with the application's jars in /app.
#
#   build-rootfs.sh OUT CLASSPATH_FILE JDK_HOME MODULES
#
# OUT            the image root to (re)create, e.g. deploy/target/image-root
# CLASSPATH_FILE the application's runtime class path (':'-separated jars): the JavaCPP jars for
#                linux-x86_64 in it are unpacked to find which system libraries their natives need
# JDK_HOME       the JDK whose jlink and jmods make the runtime (the build's own JDK 17)
# MODULES        comma-separated Java modules for jlink --add-modules
#
# Which system libraries go in is worked out with ldd, not listed by hand: every ELF file of the
# runtime and of the natives is asked what it loads, and whatever resolves outside those two trees
# (libc, libm, libz, libstdc++, ... and the dynamic loader) is copied in at the same path.
set -euo pipefail

out=$1
classpath_file=$2
jdk=$3
modules=$4
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

for tool in ldd unzip file; do
  command -v "$tool" >/dev/null || { echo "build-rootfs: '$tool' is needed" >&2; exit 1; }
done
[[ -x "$jdk/bin/jlink" ]] || { echo "build-rootfs: no jlink in $jdk/bin (JDK, not JRE, needed)" >&2; exit 1; }
[[ -d "$jdk/jmods" ]] || { echo "build-rootfs: no $jdk/jmods (on Debian: apt-get install openjdk-17-jdk-headless)" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# 1. the Java runtime
"$jdk/bin/jlink" --add-modules "$modules" --output "$out/opt/java" \
  --strip-debug --no-man-pages --no-header-files --compress=2
# Debian's JDK links lib/security/cacerts to /etc/ssl/certs/java/cacerts: the image has no /etc/ssl,
# so put the trust store itself there (the Kubernetes API client needs it for TLS)
if [[ -L "$out/opt/java/lib/security/cacerts" || ! -e "$out/opt/java/lib/security/cacerts" ]]; then
  rm -f "$out/opt/java/lib/security/cacerts"
  src="$(readlink -f "$jdk/lib/security/cacerts" || true)"
  if [[ -n "$src" && -f "$src" ]]; then
    cp "$src" "$out/opt/java/lib/security/cacerts"
  else
    echo "build-rootfs: warning: no cacerts in $jdk; TLS to servers with public certificates will fail" >&2
  fi
fi

# 2. the native libraries JavaCPP will unpack at run time, only to ask them what they load
mkdir -p "$scratch/natives"
tr ':' '\n' <"$classpath_file" | grep -E 'linux-x86_64[^/]*\.jar$' | while read -r jar; do
  unzip -q -o "$jar" '*.so' '*.so.*' -d "$scratch/natives/$(basename "$jar")" 2>/dev/null || true
done

# 3. the system libraries they all need, and the dynamic loader
: >"$scratch/libs"
while IFS= read -r -d '' f; do
  file -b "$f" | grep -q '^ELF' || continue
  # "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x…)" and "/lib64/ld-linux-x86-64.so.2 (0x…)"
  ldd "$f" 2>/dev/null | awk -v from="$f" '
    $2 == "=>" && $3 ~ /^\// { print $3 }
    $2 == "=>" && $3 == "not" { print "missing " $1 " " from }
    $1 ~ /^\// { print $1 }' >>"$scratch/libs" || true
done < <(find "$out/opt/java" "$scratch/natives" -type f -print0)
# Unresolved names are expected where the runtime or the natives bring them: libjvm.so is loaded
# by the launcher; JavaCPP unpacks libopenblas.so.0 and links libopenblas_nolapack.so.0 to it before
# loading what needs them. Others are reported; ImageIT runs ND4J in the image to be sure.
while read -r _ name from; do
  if [[ -z "$(find "$out/opt/java" "$scratch/natives" -name "$name" -print -quit)" && $name != libopenblas_nolapack.so.0 ]]; then
    echo "build-rootfs: warning: $from needs $name, found neither on this machine nor in the image" >&2
  fi
done < <(grep '^missing ' "$scratch/libs" | sort -u -k2,2)
sed -i '/^missing /d' "$scratch/libs"
# glibc's resolver and name-service modules are loaded with dlopen, which ldd cannot see
for extra in libnss_files.so.2 libnss_dns.so.2 libresolv.so.2; do
  for dir in /lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu; do
    [[ -e "$dir/$extra" ]] && { echo "$dir/$extra" >>"$scratch/libs"; break; }
  done
done
count=0
while read -r lib; do
  case "$lib" in "$out"/* | "$scratch"/*) continue ;; esac
  mkdir -p "$out$(dirname "$lib")"
  cp -L "$lib" "$out$lib"
  count=$((count + 1))
done < <(sort -u "$scratch/libs")

# 4. /etc: users, groups, name lookup; writable /tmp and JavaCPP cache for runs without Kubernetes
cp -r "$here/etc" "$out/etc"
mkdir -p "$out/tmp" "$out/var/cache/arrakis/javacpp" "$out/home/nonroot"

echo "build-rootfs: $out: Java runtime ($modules), $count system libraries, $(du -sh "$out" | cut -f1) in all"
