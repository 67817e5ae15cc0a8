#!/usr/bin/env bash
# Makes sure the local image store has the two base images the Dockerfile names,
# docker.io/library/debian:bookworm and :bookworm-slim. An image already there (pulled
# from a registry, or made by an earlier run: the store is the cache) is kept. One
# that is missing, on a machine that cannot reach a registry, is made from Debian's
# own packages: `debootstrap --variant=minbase bookworm`, imported with `podman
# import`; the slim one also drops docs, man pages and locales, as the real one does.
#   bash scripts/container-base.sh
#   PODMAN="podman --runtime runc --cgroup-manager cgroupfs" bash scripts/container-base.sh
# Needs root (debootstrap) only when an image is missing. DEBIAN_MIRROR overrides the
# mirror, which otherwise is the one apt on this machine uses.
set -euo pipefail

read -r -a podman <<<"${PODMAN:-podman}"
images=(docker.io/library/debian:bookworm docker.io/library/debian:bookworm-slim)

missing=()
for image in "${images[@]}"; do
  "${podman[@]}" image exists "$image" || missing+=("$image")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "container-base: ${missing[*]} missing; making them with debootstrap needs root" >&2
  exit 1
fi
command -v debootstrap >/dev/null || { echo "container-base: debootstrap is not installed" >&2; exit 1; }

# The mirror apt uses here (deb822 or one-line sources), else Debian's CDN.
apt_uri() {  # $1: a pattern the suite line must match
  local f files=()
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] && files+=("$f")
  done
  [[ ${#files[@]} -gt 0 ]] || return 0
  cat "${files[@]}" \
    | awk -v want="$1" '
        /^URIs:/ { uri = $2 }
        /^Suites:/ && $0 ~ want && uri { print uri; exit }
        /^deb / && $0 ~ want { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }'
}
mirror=${DEBIAN_MIRROR:-$(apt_uri " bookworm( |$)")}
mirror=${mirror:-http://deb.debian.org/debian}
security=$(apt_uri "bookworm-security")

work=$(mktemp -d /var/tmp/sse-gw-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
echo "container-base: debootstrap bookworm from $mirror for ${missing[*]}" >&2
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log" >&2; exit 1; }

# The sources the real image has: the release, its updates and (if reachable here)
# the security archive.
rm -f "$root/etc/apt/sources.list"
{
  printf 'Types: deb\nURIs: %s\nSuites: bookworm bookworm-updates\nComponents: main\n' "$mirror"
  printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
  if [[ -n $security ]]; then
    printf '\nTypes: deb\nURIs: %s\nSuites: bookworm-security\nComponents: main\n' "$security"
    printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
  fi
} >"$root/etc/apt/sources.list.d/debian.sources"
# As in the real images: apt keeps no package caches, so an image's `apt-get install`
# layer holds the packages only.
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/*

import() {  # $1: image name
  tar -C "$root" --numeric-owner -c . \
    | "${podman[@]}" import --change 'CMD ["bash"]' - "$1" >/dev/null
  echo "container-base: imported $1" >&2
}

for image in "${missing[@]}"; do
  [[ $image == *:bookworm ]] && import "$image"
done
for image in "${missing[@]}"; do
  [[ $image == *:bookworm-slim ]] || continue
  # What the real slim image leaves out, now and for packages installed later.
  cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  find "$root/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$root"/usr/share/{man,groff,info,lintian,linda}/*
  find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  import "$image"
done
