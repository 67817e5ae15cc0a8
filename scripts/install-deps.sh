#!/usr/bin/env bash
# Installs the Debian 12 packages sse-gateway needs to build, test and run.
# Only missing packages are installed; with everything present it exits at once.
# Works as root, or as a user with sudo (e.g. a fresh debian:bookworm container).
#   scripts/install-deps.sh [GROUP...]   groups: build, run, test, container
# No group: build and test. `build` alone is what compiling the gateway needs (the
# Dockerfile's build stage with RUN_TESTS=0); `build run` what scripts/run.sh
# needs to build and run it with its demos; `container` is what building and
# running the image needs (the deploy.container test, which skips, saying why,
# without it).
set -euo pipefail

BUILD_PACKAGES=(
  g++               # the C++20 compiler
  cmake             # the build system (3.25 on bookworm)
  make              # the CMake generator's backend
  pkg-config        # lets CMake find libpq and OpenSSL
  ca-certificates   # TLS to PostgreSQL with sslmode=verify-full
  libboost1.81-dev  # Boost.Asio and Boost.Beast (header-only parts)
  libpq-dev         # libpq: the LISTEN connection
  rapidjson-dev     # JSON payload parsing and escaping
  libssl-dev        # HMAC, AES, PBKDF2 for jwt and rails-session auth; TLS for --jwt-jwks-url
  libtomlplusplus-dev  # toml++ (header-only here): the --config file
)
TEST_PACKAGES=(
  catch2            # unit tests (Catch2 v2)
  postgresql        # initdb/pg_ctl/psql for integration tests and scripts/run.sh
  python3           # integration test harness (stdlib only)
  curl              # trying the stream by hand, as scripts/run.sh prints
  procps            # ps/pkill used when debugging, kill for the scripts
  util-linux        # runuser: start PostgreSQL as the postgres user when root
  nginx             # the demo page's proxy (scripts/run.sh) and the browser test's
  chromium          # the browser test's browser (/usr/bin/chromium; never a downloaded one)
  fonts-dejavu-core # legible text in the browser test's screenshots
  python3-yaml      # the deploy tests parse the Kubernetes manifests
  openssl           # the auth fixtures' RSA and EC test keys
  python3-jwt       # PyJWT signs the test tokens: an implementation independent of ours
  python3-cryptography  # PyJWT's RS256/ES256 backend
  ruby-activesupport    # real Rails (ActiveSupport) code makes the test session cookies
  clang             # the fuzz targets (tests/fuzz): libFuzzer needs clang
  clang-format      # scripts/check-format.sh: the product code matches .clang-format
  libclang-rt-14-dev  # libFuzzer and the sanitizer runtimes (clang only recommends it)
)
RUN_PACKAGES=(
  postgresql        # scripts/run.sh's throwaway cluster (initdb, pg_ctl, psql)
  util-linux        # runuser: start PostgreSQL as the postgres user when root
  nginx             # the demo page's proxy
  curl              # trying the stream by hand, as scripts/run.sh prints
  python3           # the free-port helper of tmp-postgres.sh and the demo's nginx.sh
)
CONTAINER_PACKAGES=(
  podman            # builds the Dockerfile and runs the image, rootful
  runc              # podman's runtime here (crun fails on hybrid cgroups)
  catatonit         # the pause process of the pod `podman kube play` creates
  debootstrap       # the Debian base images where no registry is reachable
  debian-archive-keyring  # debootstrap verifies the archive with it
)

groups=("$@")
[[ ${#groups[@]} -gt 0 ]] || groups=(build test)
PACKAGES=()
want_node=0
for group in "${groups[@]}"; do
  case $group in
    build)     PACKAGES+=("${BUILD_PACKAGES[@]}") ;;
    run)       PACKAGES+=("${RUN_PACKAGES[@]}"); want_node=1 ;;
    test)      PACKAGES+=("${TEST_PACKAGES[@]}"); want_node=1 ;;
    container) PACKAGES+=("${CONTAINER_PACKAGES[@]}") ;;
    *) echo "usage: $0 [build|run|test|container]..." >&2; exit 2 ;;
  esac
done

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
  [[ $status == ii* ]] || missing+=("$pkg")
done
# Node.js and npm run the browser test (playwright-core) and install the Turbo demo
# page's @hotwired/turbo (deploy/demo/setup.sh, for scripts/run.sh). A machine that
# already has them (from any source) keeps its own; otherwise Debian's.
[[ $want_node -eq 0 ]] || command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "install-deps: missing packages (${missing[*]}) and not root, no sudo" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
