#!/usr/bin/env bash
# The packages of dist/ (scripts/dist), installed as a user would: in a new
# venv and an empty folder, with an environment that holds nothing but a PATH
# without cargo and rustc, and offline (pip --no-index, npm --offline).
#   - each package's contents, against the checkout (tests/dist/contents.py)
#   - the wheel: abi3 and its manylinux tag (auditwheel show), PyPI's
#     metadata checks (twine check --strict); installed, the Python quickstart
#     runs, mypy --strict finds its types, evaluate is timed
#   - npm: the platform and main tarballs install together; the Node
#     quickstart runs from ESM and CommonJS, evaluate is timed; each adapter
#     names its missing framework, then loads; tsc --strict resolves the types
#     of every subpath of the exports map (nodenext from ESM and CommonJS,
#     bundler, node10)
# Run by scripts/test after its Node section (whose frameworks in
# tests/node-adapters/node_modules it links in); by hand: scripts/dist, then
# tests/dist/check.sh. Its tools (auditwheel, twine, mypy) live in .venv-dist.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
DIST="$ROOT/dist"
PLATFORM=linux-x64-gnu
VERSION="$(awk '/^\[/ { in_ws = ($0 == "[workspace.package]") } in_ws && /^version *= *"/ { sub(/^version *= *"/, ""); sub(/".*$/, ""); print }' Cargo.toml)"
PYTHON="$(${PYTHON:-python3} -c 'import sys; print(sys.executable)')"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

fail() {
    echo "tests/dist: $*" >&2
    exit 1
}

t0=$SECONDS
echo "-- dist: one version (the workspace's), checksums, contents"
scripts/dist check
# the check fails when a package file disagrees, and `scripts/dist version` mends it
tree="$WORK/version"
for f in Cargo.toml scripts/dist bindings/python/pyproject.toml bindings/python/Cargo.toml \
    bindings/node/package.json bindings/node/npm/$PLATFORM/package.json; do
    mkdir -p "$tree/$(dirname "$f")" && cp "$f" "$tree/$f"
done
sed -i '/^\[workspace.package\]/,/^\[/ s/^version = ".*"/version = "9.8.7"/' "$tree/Cargo.toml"
out="$("$tree/scripts/dist" check 2>&1)" && fail "scripts/dist check passed with package.json at $VERSION and the workspace at 9.8.7"
grep -qF "bindings/node/package.json: version $VERSION, the workspace (Cargo.toml [workspace.package]) has 9.8.7" <<< "$out" ||
    fail "scripts/dist check: $out"
"$tree/scripts/dist" version > /dev/null
"$tree/scripts/dist" check > /dev/null
for f in bindings/node/package.json bindings/node/npm/$PLATFORM/package.json; do
    [ "$(node -p "require('$tree/$f').version")" = 9.8.7 ] || fail "scripts/dist version did not stamp $f"
done
sed -i 's/^dynamic = \["version"\]/version = "9.8.7"/' "$tree/bindings/python/pyproject.toml"
out="$("$tree/scripts/dist" check 2>&1)" && fail "scripts/dist check passed with a static version in pyproject.toml"
grep -qF 'bindings/python/pyproject.toml: [project] needs dynamic = ["version"]' <<< "$out" || fail "scripts/dist check: $out"

(cd "$DIST" && sha256sum --quiet -c SHA256SUMS)
"$PYTHON" tests/dist/contents.py "$DIST" "$VERSION"
# the checks above can fail: a package with a stray file or an unstripped addon is refused
mkdir -p "$WORK/bad/dist" "$WORK/bad/pkg"
cp "$DIST"/* "$WORK/bad/dist/"
tar -xzf "$DIST/signoff-$VERSION.tgz" -C "$WORK/bad/pkg"
: > "$WORK/bad/pkg/package/.env"
tar -czf "$WORK/bad/dist/signoff-$VERSION.tgz" -C "$WORK/bad/pkg" package
rm -rf "$WORK/bad/pkg" && mkdir "$WORK/bad/pkg"
tar -xzf "$DIST/signoff-$PLATFORM-$VERSION.tgz" -C "$WORK/bad/pkg"
cp bindings/node/signoff.$PLATFORM.node "$WORK/bad/pkg/package/" # as napi built it: with its symbol table
tar -czf "$WORK/bad/dist/signoff-$PLATFORM-$VERSION.tgz" -C "$WORK/bad/pkg" package
out="$("$PYTHON" tests/dist/contents.py "$WORK/bad/dist" "$VERSION" 2>&1)" && fail "contents.py accepted a tampered dist/"
grep -q "signoff-$VERSION.tgz: ships .env, which no package may hold" <<< "$out" || fail "contents.py missed a .env: $out"
grep -q "signoff.$PLATFORM.node has a .symtab section" <<< "$out" || fail "contents.py missed an unstripped addon: $out"
rm -rf "$WORK/bad"

# the tools: pinned, in a venv this script owns, rebuilt when the pins change
pins="auditwheel==6.8.2
abi3audit==0.0.26
twine==7.0.0
mypy==2.4.1"
if [ ! -x .venv-dist/bin/python ] || [ "$(cat .venv-dist/.signoff-pins 2> /dev/null)" != "$pins" ]; then
    rm -rf .venv-dist
    "$PYTHON" -m venv .venv-dist
    # shellcheck disable=SC2086
    .venv-dist/bin/pip install -q --disable-pip-version-check $pins
    printf '%s\n' "$pins" > .venv-dist/.signoff-pins
fi
wheel="$(ls "$DIST"/signoff-"$VERSION"-cp39-abi3-manylinux_*_x86_64.whl)"
tag="$(basename "$wheel" .whl)"
tag="${tag#signoff-"$VERSION"-cp39-abi3-}"
show="$(.venv-dist/bin/auditwheel show "$wheel" | tr -s ' \n' '  ')"
grep -qF "is consistent with the following platform tag: \"$tag\"" <<< "$show" ||
    fail "auditwheel does not find $(basename "$wheel") consistent with $tag: $show"
# abi3audit: every Python symbol the extension uses is in the stable ABI of 3.9
audit="$(.venv-dist/bin/abi3audit --strict --assume-minimum-abi3 3.9 --report "$wheel")" ||
    fail "abi3audit: $audit"
.venv-dist/bin/twine check --strict "$wheel" "$DIST/signoff-$VERSION.tar.gz" > /dev/null ||
    .venv-dist/bin/twine check --strict "$wheel" "$DIST/signoff-$VERSION.tar.gz" || fail "twine check --strict"
echo "  auditwheel show: $tag; abi3audit --strict: abi3 (3.9); twine check --strict: passed"

# the sdist builds the same wheel (maturin, offline: the versions of its
# Cargo.lock; it shares the target folder, so little compiles)
mkdir -p "$WORK/sdist"
tar -xzf "$DIST/signoff-$VERSION.tar.gz" -C "$WORK/sdist"
(cd "$WORK/sdist/signoff-$VERSION" && CARGO_TARGET_DIR="$ROOT/target" "$ROOT/.venv/bin/maturin" build -q --release --strip --offline \
    --target "$(rustc -vV | sed -n 's/^host: //p')" --compatibility pypi --auditwheel check -o "$WORK/sdist/out" > "$WORK/sdist/log" 2>&1) ||
    fail "the sdist does not build: $(cat "$WORK/sdist/log")"
"$PYTHON" - "$wheel" "$WORK"/sdist/out/*.whl << 'EOF2' || fail "the sdist builds another wheel"
import sys, zipfile
a, b = (sorted(zipfile.ZipFile(w).namelist()) for w in sys.argv[1:])
sys.exit(a != b or sys.argv[1].rsplit("/", 1)[1] != sys.argv[2].rsplit("/", 1)[1])
EOF2
echo "  the sdist builds the same wheel (file names and contents list)"

# -- a user's machine: no cargo or rustc on PATH, no other environment -------
clean_path=""
IFS=: read -ra dirs <<< "$PATH"
for dir in "${dirs[@]}"; do
    [ -n "$dir" ] && [ ! -e "$dir/cargo" ] && [ ! -e "$dir/rustc" ] && clean_path="${clean_path:+$clean_path:}$dir"
done
mkdir -p "$WORK/home"
user() { env -i PATH="$clean_path" HOME="$WORK/home" LANG=C.UTF-8 "$@"; }
user bash -c '! command -v cargo && ! command -v rustc' > /dev/null || fail "cargo or rustc is still on the user's PATH"

echo "-- dist: the wheel in new venvs ($((SECONDS - t0))s so far)"
# this Python, and the oldest and newest other CPython pyenv has (one abi3 wheel for all)
pythons=("$PYTHON")
if command -v pyenv > /dev/null; then
    others=()
    for py in "$(pyenv root)"/versions/3.*/bin/python3; do
        [ -x "$py" ] && "$py" -c 'import sys; sys.exit(not (sys.version_info >= (3, 9) and sys.implementation.name == "cpython"))' &&
            [ "$("$py" -c 'import sys; print(sys.version_info[:2])')" != "$("$PYTHON" -c 'import sys; print(sys.version_info[:2])')" ] &&
            others+=("$("$py" -c 'import sys; print("%d.%02d" % sys.version_info[:2])') $py")
    done
    if [ "${#others[@]}" -gt 0 ]; then
        mapfile -t others < <(printf '%s\n' "${others[@]}" | sort -n | cut -d' ' -f2-)
        pythons+=("${others[0]}")
        [ "${#others[@]}" -gt 1 ] && pythons+=("${others[-1]}")
    fi
fi
for py in "${pythons[@]}"; do
    venv="$WORK/venv-$(basename "$(dirname "$(dirname "$py")")")"
    user "$py" -m venv "$venv"
    user "$venv/bin/pip" install -q --no-index --disable-pip-version-check "$wheel"
    (
        cd "$WORK"
        origin="$(user "$venv/bin/python" -c 'import signoff; print(signoff.__file__)')"
        [[ "$origin" == "$venv/lib/"*"/site-packages/signoff/__init__.py" ]] || fail "signoff imported from $origin, not the venv"
        out="$(user "$venv/bin/python" "$ROOT/examples/python/quickstart.py")"
        for line in "running db.query" "denied by no-drop: " \
            "approved by user:carol@example.com, user:dan@example.com" "guarded query returned 29"; do
            grep -qF "$line" <<< "$out" || fail "the Python quickstart ($py) did not print '$line': $out"
        done
    )
    echo "  python $("$venv/bin/python" -c 'import platform; print(platform.python_version())'): the wheel installs, the quickstart runs"
done
venv="$WORK/venv-$(basename "$(dirname "$(dirname "$PYTHON")")")"
# PEP 561: the installed package's stubs type the quickstart
out="$(.venv-dist/bin/mypy --strict --no-incremental --cache-dir=/dev/null \
    --python-executable "$venv/bin/python" examples/python/quickstart.py)" || fail "mypy --strict: $out"
out="$(.venv-dist/bin/mypy --strict --no-incremental --cache-dir=/dev/null tests/dist/contents.py)" || fail "mypy --strict: $out"
echo "  mypy --strict: the quickstart, typed by the installed wheel; tests/dist/contents.py"
(cd "$WORK" && user "$venv/bin/python" - "$ROOT/examples/policies/prod-agents.toml") << 'EOF2'
import sys, time
import signoff

policy = signoff.Policy.from_file(sys.argv[1])
call = dict(actor="agent:billing-bot", on_behalf_of="user:alice@example.com", env="prod", args={"sql": "select 1"})
assert policy.evaluate("db.query", **call).effect == "allow"
n = 20_000
best = float("inf")
for _ in range(5):
    start = time.perf_counter()
    for _ in range(n):
        policy.evaluate("db.query", **call)
    best = min(best, (time.perf_counter() - start) / n)
print(f"  python: policy.evaluate {best * 1e6:.2f} µs a call (best of 5 x {n}, the installed wheel)")
EOF2

echo "-- dist: the npm packages in an empty folder ($((SECONDS - t0))s so far)"
app="$WORK/app"
mkdir -p "$app/examples/node"
cp -r examples/policies "$app/examples/"
(
    cd "$app"
    user npm init -y --no-update-notifier > /dev/null
    user npm install --offline --no-audit --no-fund --no-update-notifier --loglevel=error \
        "$DIST/signoff-$PLATFORM-$VERSION.tgz" "$DIST/signoff-$VERSION.tgz"
    # the two packages and nothing else; the addon only in the platform package
    installed="$(cd node_modules && ls -A | grep -v '^\.package-lock\.json$' | sort | tr '\n' ' ')"
    [ "$installed" = "signoff signoff-$PLATFORM " ] || fail "npm installed: $installed"
    [ -z "$(find node_modules/signoff -name '*.node')" ] || fail "the main package holds an addon"
    ! grep -q '"resolved": "http' package-lock.json || fail "npm resolved a package from a registry"
    # the quickstart as the example has it, importing the installed package
    sed "s|from '../../bindings/node/index.mjs'|from 'signoff'|" "$ROOT/examples/node/quickstart.mjs" > examples/node/quickstart.mjs
    grep -q "from 'signoff'" examples/node/quickstart.mjs || fail "examples/node/quickstart.mjs no longer imports ../../bindings/node/index.mjs"
    cp "$ROOT/tests/dist/quickstart.cjs" examples/node/quickstart.cjs
    for q in quickstart.mjs quickstart.cjs; do
        out="$(user node "examples/node/$q")"
        for line in "denied by no-drop: " \
            "approved by user:carol@example.com, user:dan@example.com" "guarded query returned 29"; do
            grep -qF "$line" <<< "$out" || fail "the Node quickstart ($q) did not print '$line': $out"
        done
        grep '^  node' <<< "$out" || true
    done
    # each adapter, from CJS and ESM: without its framework it names it; with
    # the frameworks (linked in from tests/node-adapters) it loads
    entries='[["ai", "ai", ["gateTools", "toolApproval"]], ["openai-agents", "@openai/agents", ["gateTool", "signoffGuardrail", "resolveApprovals"]], ["langchain", "langchain", ["signoffMiddleware"]]]'
    check="const without = process.argv[1] === 'without'
        for (const [sub, pkg, names] of $entries) {
          let m
          try { m = LOAD('signoff/' + sub) } catch (e) {
            if (without && e.code === 'SIGNOFF_MISSING_FRAMEWORK' && e.package === pkg && e.message.includes('npm install ' + pkg)) continue
            throw e
          }
          if (without) throw new Error('signoff/' + sub + ' loaded without ' + pkg)
          for (const name of names) if (typeof m[name] !== 'function') throw new Error('signoff/' + sub + ' has no ' + name)
        }"
    user node -e "${check/LOAD/require}" without
    user node --input-type=module -e "${check/LOAD/await import}" without
    frameworks="$ROOT/tests/node-adapters/node_modules"
    [ -d "$frameworks/langchain" ] || fail "the frameworks are missing from tests/node-adapters/node_modules (scripts/test's Node section installs them)"
    for entry in "$frameworks"/* "$frameworks"/@*; do
        name="${entry#"$frameworks"/}"
        case "$name" in signoff | typescript | @types) continue ;; esac
        [ -e "node_modules/$name" ] || ln -s "$entry" "node_modules/$name"
    done
    mkdir -p node_modules/@types && ln -s "$frameworks/@types/node" node_modules/@types/node
    user node -e "${check/LOAD/require}" with
    user node --input-type=module -e "${check/LOAD/await import}" with

    # tsc --strict over a file that imports every subpath of the exports map
    # (a subpath without types, or with types that resolve to any, fails)
    node -e '
        const fs = require("fs")
        const subs = Object.keys(require("./node_modules/signoff/package.json").exports).filter((s) => s !== "./package.json")
        let esm = "type IsAny<T> = 0 extends 1 & T ? true : false\n"
        let cjs = esm
        subs.forEach((sub, i) => {
          const spec = "signoff" + sub.slice(1)
          const use = `const any${i}: IsAny<typeof m${i}> = false\nconst some${i}: [keyof typeof m${i}] extends [never] ? false : true = true\nexport { any${i}, some${i} }\n`
          esm += `import * as m${i} from "${spec}"\n` + use
          cjs += `import m${i} = require("${spec}")\n` + use
        })
        const root = "import { Policy, Gate } from \"signoff\"\n" +
          "const policy: Policy = Policy.fromToml(\"[policy]\")\n" +
          "// @ts-expect-error the action name is a string\n" +
          "policy.evaluate({ name: 5 })\n" +
          "export const gate: Gate = new Gate({ policy })\n"
        fs.writeFileSync("subpaths.mts", esm)
        fs.writeFileSync("subpaths.cts", cjs)
        fs.writeFileSync("subpaths.ts", esm)
        fs.writeFileSync("root.mts", root)
        console.log("  types: " + subs.map((s) => "signoff" + s.slice(1)).join(", "))
    '
    echo "  ($((SECONDS - t0))s so far)"
    tsc="$frameworks/typescript/bin/tsc"
    common=(--strict --noEmit --target es2022 --types node)
    user node "$tsc" "${common[@]}" --module nodenext --moduleResolution nodenext subpaths.mts subpaths.cts root.mts
    user node "$tsc" "${common[@]}" --module esnext --moduleResolution bundler --skipLibCheck subpaths.ts
    # node10 (no exports maps: typesVersions) checks how the subpaths resolve;
    # the frameworks' own types need node16 or later, so they are not checked here
    user node "$tsc" "${common[@]}" --module commonjs --moduleResolution node10 --esModuleInterop --skipLibCheck subpaths.ts
    echo "  tsc --strict: every subpath typed (nodenext ESM and CJS, bundler, node10; TypeScript $(node "$tsc" --version | cut -d' ' -f2))"
)
echo "-- dist: passed in $((SECONDS - t0))s"
