#!/usr/bin/env bash
# lint.sh: the house style, checked.
#
#   scripts/lint.sh          check: clang-format over every C source git
#                            tracks (against the checked-in .clang-format),
#                            and a shellcheck of every shell script
#   scripts/lint.sh --fix    reformat the C sources in place (shellcheck's
#                            findings are fixed by hand)
#
# Prints each file that is off (with clang-format's or shellcheck's
# report), then "lint: OK" or "lint: N problem(s)"; exits 1 if there is
# any. Needs clang-format (Debian's 14, which .clang-format is written
# for) and shellcheck; scripts/deps.sh installs both. Never reads stdin.

set -uo pipefail

root=$(cd "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$root" || exit 2

fix=0
case ${1:-} in
--fix) fix=1 ;;
'') ;;
*)
    echo "usage: scripts/lint.sh [--fix]" >&2
    exit 2
    ;;
esac

for tool in clang-format shellcheck; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "lint: $tool not found (bash scripts/deps.sh installs it)" >&2
        exit 2
    fi
done

problems=0
mapfile -t c_files < <(git ls-files -- '*.c' '*.h' '*.cpp')
# Shell scripts: by extension, and the few without one.
mapfile -t sh_files < <(git ls-files -- '*.sh' .ci/run tests/wine/iocpd-wine)

if [ "$fix" = 1 ]; then
    clang-format -i --style=file -- "${c_files[@]}"
    echo "lint: reformatted ${#c_files[@]} C sources"
    exit 0
fi

for f in "${c_files[@]}"; do
    if ! out=$(clang-format --style=file --dry-run --Werror -- "$f" 2>&1); then
        printf '%s\n' "$out" | head -n 20
        echo "lint: $f is not formatted (scripts/lint.sh --fix)"
        problems=$((problems + 1))
    fi
done

for f in "${sh_files[@]}"; do
    if ! shellcheck -x -- "$f"; then
        echo "lint: shellcheck: $f"
        problems=$((problems + 1))
    fi
done

if [ "$problems" -ne 0 ]; then
    echo "lint: $problems problem(s) in ${#c_files[@]} C sources and ${#sh_files[@]} shell scripts"
    exit 1
fi
echo "lint: OK (${#c_files[@]} C sources formatted, ${#sh_files[@]} shell scripts clean)"
