# Helpers shared by scripts/check_config.sh and scripts/stack.sh (sourced, not run).

# apt_install COMMAND PACKAGE: install a Debian package when COMMAND is missing (CI starts from a fresh machine).
apt_install() {
  command -v "$1" >/dev/null 2>&1 && return
  printf 'installing %s (Debian package)\n' "$2" >&2
  local sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$2" >/dev/null
}

# go_build_in_place MODULE@VERSION PACKAGE OUTPUT LDFLAGS WORKDIR: build a main package inside the module
# cache. `go install mod@version` refuses modules whose go.mod has replace or exclude directives
# (Jaeger, Compose, Prometheus), so they are downloaded and built where they lie.
go_build_in_place() {
  local module="$1" package="$2" output="$3" ldflags="$4" workdir="$5" src
  mkdir -p "$workdir"
  src="$(cd "$workdir" && GOFLAGS=-mod=mod go mod download -json "$module" \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')"
  (cd "$src" && GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$output.tmp" "$package")
  mv "$output.tmp" "$output"
}
