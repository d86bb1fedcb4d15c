#!/usr/bin/env bash
# Obtains a lastgood binary for this runner and prints where it is (output `bin` of the step).
#
#   "$GITHUB_ACTION_PATH/../install.sh" <binary>
#
# 1. the tool cache: $RUNNER_TOOL_CACHE/lastgood/<version>/<target>/<binary>;
# 2. the release asset named in actions/manifest.json for this runner's OS and architecture,
#    downloaded with curl, checked against the manifest's sha256 (a SHA-pinned `uses:` therefore
#    pins the binary too), extracted and cached;
# 3. otherwise (the release has no asset for this target: the manifest lists none, or the
#    release answers 404): `cargo build --release --locked -p <binary>` in this checkout of
#    lastgood, the same commit the manifest belongs to.
#
# A runner other than Linux or macOS on x64 or arm64 is refused with exit 3. The manifest is
# written by `cargo xtask release` (or `release-manifest`) with one asset per line, so plain
# grep/sed read it (no jq or python needed). Inputs never reach this script. curl verifies TLS
# with the system's CAs (or CURL_CA_BUNDLE).
set -euo pipefail

name="${1:-}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
manifest="$here/manifest.json"

fail() {
    echo "::error title=lastgood install::$*" >&2
    exit 3
}
info() {
    echo "lastgood install: $*" >&2
}
found() {
    info "$name: $1"
    if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
        echo "bin=$1" >>"$GITHUB_OUTPUT"
    else
        echo "$1"
    fi
    exit 0
}

[[ -n "$name" && -f "$here/$name/action.yml" ]] || fail "unknown lastgood binary '${name}': expected the name of a directory of $here"

target=""
case "${RUNNER_OS:-$(uname -s)}/${RUNNER_ARCH:-$(uname -m)}" in
    Linux/X64 | Linux/x86_64) target=x86_64-unknown-linux-gnu ;;
    Linux/ARM64 | Linux/aarch64) target=aarch64-unknown-linux-gnu ;;
    macOS/X64 | Darwin/x86_64) target=x86_64-apple-darwin ;;
    macOS/ARM64 | Darwin/arm64) target=aarch64-apple-darwin ;;
    *) fail "lastgood runs on Linux and macOS runners, x64 or arm64; this runner is ${RUNNER_OS:-$(uname -s)}/${RUNNER_ARCH:-$(uname -m)}: use such a runner (runs-on)" ;;
esac

version="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$manifest" | head -n 1)"
[[ -n "$version" ]] || fail "$manifest names no version"
cache="${RUNNER_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}}/lastgood/$version/$target"

# 1. The tool cache.
if [[ -x "$cache/$name" ]]; then
    found "$cache/$name"
fi

# 2. The release asset, checked against the manifest.
line=""
status=""
line="$(grep -F "\"$name-$target\":" "$manifest" || true)"
if [[ -n "$line" ]]; then
    url="$(sed -n 's/.*"url": *"\([^"]*\)".*/\1/p' <<<"$line")"
    sha256="$(sed -n 's/.*"sha256": *"\([0-9a-f]\{64\}\)".*/\1/p' <<<"$line")"
    [[ "$url" == https://* && -n "$sha256" ]] || fail "$manifest: malformed entry for $name-$target"
    tmp="$(mktemp -d "${RUNNER_TEMP:-/tmp}/lastgood.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    info "downloading $url"
    status="$(curl --proto '=https' --proto-redir '=https' --tlsv1.2 -sSL --retry 5 --retry-connrefused \
        -w '%{http_code}' -o "$tmp/asset.tar.gz" "$url")" || fail "could not download $url"
fi
if [[ -n "$line" && "$status" == 404 ]]; then
    info "the release has no $name-$target (HTTP 404 for $url)"
    line=""
fi
if [[ -n "$line" ]]; then
    [[ "$status" == 200 ]] || fail "could not download $url (HTTP $status)"
    if command -v sha256sum >/dev/null; then
        actual="$(sha256sum "$tmp/asset.tar.gz" | cut -d ' ' -f 1)"
    else
        actual="$(shasum -a 256 "$tmp/asset.tar.gz" | cut -d ' ' -f 1)"
    fi
    [[ "$actual" == "$sha256" ]] || fail "$name-$target: sha256 $actual does not match the manifest's $sha256; refusing to run it"
    mkdir -p "$tmp/x" "$cache"
    tar -xzf "$tmp/asset.tar.gz" -C "$tmp/x"
    [[ -f "$tmp/x/$name" ]] || fail "the archive of $name-$target holds no $name"
    # Copied beside its place, then renamed into it (same file system): a concurrent job sees
    # no binary or the whole one, never a part.
    cp "$tmp/x/$name" "$cache/.$name.$$"
    chmod 755 "$cache/.$name.$$"
    mv -f "$cache/.$name.$$" "$cache/$name"
    found "$cache/$name"
fi

# 3. Build from source.
info "no release asset of $version for $target: building $name from source"
command -v "${CARGO:-cargo}" >/dev/null ||
    fail "no prebuilt $name for this runner and cargo is not installed: install Rust (https://rustup.rs) on the runner"
# The action's own directory is fetched again for every job: build in the tool cache, which
# outlives jobs on a self-hosted runner, so the next build is incremental.
target_dir="${CARGO_TARGET_DIR:-${RUNNER_TOOL_CACHE:+$RUNNER_TOOL_CACHE/lastgood/build}}"
target_dir="${target_dir:-$root/target}"
CARGO_TARGET_DIR="$target_dir" "${CARGO:-cargo}" build --release --locked --quiet -p "$name" \
    --manifest-path "$root/Cargo.toml" >&2 || fail "cargo build of $name failed"
[[ -x "$target_dir/release/$name" ]] || fail "cargo built no $target_dir/release/$name"
found "$target_dir/release/$name"
