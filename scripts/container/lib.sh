# shellcheck shell=bash
# Helpers shared by scripts/container/* and scripts/fresh-check (sourced, not run).

container_require_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "$(basename "$0"): run as root (mmdebstrap and buildah need it here)" >&2
        exit 1
    fi
}

# container_ensure_tools CMD...: apt-get install the Debian packages providing
# the missing commands (buildah, mmdebstrap, curl, shellcheck: package = command).
container_ensure_tools() {
    local missing=() cmd
    for cmd in "$@"; do
        command -v "$cmd" >/dev/null || missing+=("$cmd")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "$(basename "$0"): installing ${missing[*]} (apt)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 \
        --no-install-recommends "${missing[@]}" uidmap >/dev/null
}

# container_host_mirror NAME: the host's apt URI whose path ends in /NAME
# (debian or debian-security), read from deb822 .sources files and classic
# sources.list lines; falls back to deb.debian.org (e.g. on an Ubuntu host).
container_host_mirror() {
    local name="$1" uri
    uri="$(
        {
            sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | tr ' ' '\n'
            sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\{0,1\}\([^[:space:]]\+\).*/\2/p' \
                /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null
        } | sed 's:/*$::' | grep -E "/$name\$" | head -n1
    )"
    if [ -z "$uri" ]; then
        uri="http://deb.debian.org/$name"
        echo "$(basename "$0"): no $name mirror in the host's apt sources; using $uri" >&2
    fi
    echo "$uri"
}
