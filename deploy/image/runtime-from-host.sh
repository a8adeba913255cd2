#!/usr/bin/env bash
# Makes a runtime base image like the Containerfile's default
# (distroless/cc: glibc, CA certificates, user 65532, no shell) from this
# machine's own files, for a machine that cannot pull images: the shared
# libraries the given binaries load (ldd), the CA bundle, /etc/passwd and
# /etc/group naming the non-root user, a /tmp. Imports it as TAG.
#
#   deploy/image/runtime-from-host.sh TAG BINARY...
set -euo pipefail
tag=$1; shift
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/etc/ssl/certs" "$root/tmp"
chmod 1777 "$root/tmp"
# Every library a binary loads, the dynamic loader included, at its path.
for lib in $(ldd "$@" | awk '/=> \// { print $3 } /^\s*\/lib/ { print $1 }' | sort -u); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$root/etc/group"
tar --owner=0 --group=0 --numeric-owner -C "$root" -cf "$root.tar" .
podman import --quiet "$root.tar" "$tag" >/dev/null
rm -f "$root.tar"
echo "$tag"
