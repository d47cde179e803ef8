"""Checks what each package in dist/ holds, against the checkout.

    python tests/dist/contents.py DIST VERSION

The wheel holds exactly the package (every git-tracked file of
bindings/python/python/signoff), the extension module and the wheel
metadata; the sdist the Rust and Python sources it builds from; the npm
package exactly its JavaScript, types and adapters; the platform package
exactly its manifest, README and addon. No package holds tests, build
folders, node_modules, .env files, keys or other secrets. The manifests carry
what a registry page shows and the workspace version. Prints the sizes.
Exits 1 naming every problem.
"""

from __future__ import annotations

import email.parser
import io
import json
import pathlib
import re
import struct
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[2]
PLATFORM = "linux-x64-gnu"
ADDON = f"signoff.{PLATFORM}.node"
MAX_LIBRARY = 64 * 1024 * 1024  # a debug build of either library is over 150 MiB

# paths no package may hold, whatever its manifest says
FORBIDDEN_PATH = re.compile(
    r"(^|/)(tests?|tests_adapters|__tests__|test_[^/]*\.py|[^/]*\.test\.[cm]?js|target|node_modules|\.git|"
    r"__pycache__|\.venv[^/]*|\.mypy_cache|\.pytest_cache|\.hypothesis|dist-stage)(/|$)"
    r"|(^|/)\.env(\.[^/]*)?$|(^|/)\.(npmrc|pypirc|netrc)$|(^|/)id_(rsa|ed25519|ecdsa)[^/]*$"
    r"|\.(pem|key|p12|pfx|crt|der|jks|pyc|tgz|whl|rlib|rmeta|o|a)$"
)
# contents no text file in a package may hold
SECRET = re.compile(
    rb"-----BEGIN [A-Z ]*PRIVATE KEY-----|AKIA[0-9A-Z]{16}|xox[baprs]-[0-9A-Za-z-]{10,}|gh[pousr]_[0-9A-Za-z]{36}"
    rb"|npm_[0-9A-Za-z]{36}|pypi-AgE[0-9A-Za-z_-]{20,}|sk-[0-9A-Za-z]{32,}"
)

problems: list[str] = []


def problem(text: str) -> None:
    problems.append(text)


def tracked(folder: str) -> set[str]:
    """The git-tracked files under a folder of the checkout, relative to it."""
    out = subprocess.run(
        ["git", "ls-files", "--", folder], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    return {line[len(folder) + 1 :] for line in out.splitlines()}


def common(artifact: str, members: dict[str, bytes]) -> None:
    """The checks every package gets: no forbidden path, no secret in a text file."""
    for name, data in sorted(members.items()):
        if FORBIDDEN_PATH.search(name):
            problem(f"{artifact}: ships {name}, which no package may hold")
        if b"\0" not in data[:8192] and SECRET.search(data):
            problem(f"{artifact}: {name} holds what looks like a secret")


def same(artifact: str, found: set[str], want: set[str]) -> None:
    for name in sorted(found - want):
        problem(f"{artifact}: ships {name}, which is not part of the package")
    for name in sorted(want - found):
        problem(f"{artifact}: lacks {name}")


def elf_release(artifact: str, name: str, data: bytes) -> None:
    """A library built in release mode: small, no debug info, no symbol table."""
    if data[:4] != b"\x7fELF":
        problem(f"{artifact}: {name} is not an ELF library")
        return
    if len(data) > MAX_LIBRARY:
        problem(f"{artifact}: {name} is {len(data)} bytes: not a release build")
    for section in (".debug_info", ".symtab"):
        if section in elf_sections(data):
            problem(f"{artifact}: {name} has a {section} section (a debug or unstripped build)")


def elf_sections(data: bytes) -> set[str]:
    """The section names of a little-endian ELF64 file."""
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    def header(i: int) -> tuple[int, int, int]:
        base = shoff + i * shentsize
        (name,) = struct.unpack_from("<I", data, base)
        offset, size = struct.unpack_from("<QQ", data, base + 0x18)
        return name, offset, size
    _, str_offset, str_size = header(shstrndx)
    strings = data[str_offset : str_offset + str_size]
    names = set()
    for i in range(shnum):
        start = header(i)[0]
        names.add(strings[start : strings.index(b"\0", start)].decode())
    return names


def listing(names: set[str]) -> None:
    """Prints a package's files, wrapped."""
    print(textwrap.fill(" ".join(sorted(names)), width=110, initial_indent="    ", subsequent_indent="    ", break_on_hyphens=False))


def mib(n: int) -> str:
    return f"{n / 1048576:.2f} MiB"


def check_wheel(path: pathlib.Path, version: str) -> None:
    art = path.name
    m = re.fullmatch(rf"signoff-{re.escape(version)}-cp39-abi3-(manylinux_2_\d+_x86_64)\.whl", art)
    if not m:
        problem(f"{art}: not a cp39-abi3 manylinux x86_64 wheel of version {version}")
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        common(art, {n: z.read(n) for n in names})
        info = f"signoff-{version}.dist-info"
        package = {f"signoff/{f}" for f in tracked("bindings/python/python/signoff")}
        same(art, names, package | {"signoff/_signoff.abi3.so"} | {f"{info}/{f}" for f in ("METADATA", "WHEEL", "RECORD")})
        if "signoff/_signoff.abi3.so" in names:
            so = z.read("signoff/_signoff.abi3.so")
            elf_release(art, "signoff/_signoff.abi3.so", so)
            print(f"  wheel {art}: {mib(path.stat().st_size)} (extension module {mib(len(so))} unpacked)")
        listing(names)
        for need in ("signoff/py.typed", "signoff/_signoff.pyi"):
            if need not in names:
                problem(f"{art}: lacks {need} (the typed stubs)")
        wheel = z.read(f"{info}/WHEEL").decode() if f"{info}/WHEEL" in names else ""
        if m and f"Tag: cp39-abi3-{m.group(1)}" not in wheel.splitlines():
            problem(f"{art}: WHEEL does not carry the tag of its file name")
        if "Root-Is-Purelib: false" not in wheel:
            problem(f"{art}: WHEEL should say Root-Is-Purelib: false")
        if f"{info}/METADATA" in names:
            metadata(art, z.read(f"{info}/METADATA"), version)


def metadata(art: str, raw: bytes, version: str) -> None:
    meta = email.parser.BytesParser().parsebytes(raw)
    want = {
        "Name": "signoff",
        "Version": version,
        "Requires-Python": ">=3.9",
        "License-Expression": "Apache-2.0",
        "Description-Content-Type": "text/markdown; charset=UTF-8; variant=GFM",
    }
    for key, value in want.items():
        if meta.get(key) != value:
            problem(f"{art}: metadata {key} is {meta.get(key)!r}, not {value!r}")
    if not (meta.get("Summary") or "").startswith("Action-level approvals"):
        problem(f"{art}: metadata has no Summary")
    extras = set(meta.get_all("Provides-Extra") or [])
    if extras != {"langchain", "openai-agents", "pydantic-ai", "crewai"}:
        problem(f"{art}: extras {sorted(extras)}, not the four adapters'")
    urls = {u.split(",")[0] for u in meta.get_all("Project-URL") or []}
    for need in ("Homepage", "Repository"):
        if need not in urls:
            problem(f"{art}: no {need} project URL")
    classifiers = meta.get_all("Classifier") or []
    for need in ("Programming Language :: Rust", "Programming Language :: Python :: 3.9", "Typing :: Typed"):
        if need not in classifiers:
            problem(f"{art}: no classifier {need!r}")
    if not meta.get("Keywords"):
        problem(f"{art}: no keywords")
    body = meta.get_payload()
    readme = (ROOT / "bindings/python/README.md").read_text()
    if not isinstance(body, str) or body.strip() != readme.strip():
        problem(f"{art}: the long description is not bindings/python/README.md")


def check_sdist(path: pathlib.Path, version: str) -> None:
    art = path.name
    top = f"signoff-{version}/"
    with tarfile.open(path) as t:
        files = {m.name: read(t, m) for m in t.getmembers() if m.isfile()}
        common(art, files)
        outside = sorted(n for n in files if not n.startswith(top))
        if outside:
            problem(f"{art}: entries outside {top}: {outside[:3]}")
        names = {n[len(top) :] for n in files if n.startswith(top)}
        for need in ("pyproject.toml", "PKG-INFO", "Cargo.toml", "Cargo.lock", "README.md", "bindings/python/Cargo.toml"):
            if need not in names:
                problem(f"{art}: lacks {need}")
        python = {f"python/signoff/{f}" for f in tracked("bindings/python/python/signoff")}
        same(art + " (python/)", {n for n in names if n.startswith("python/")}, python)
        for crate in ("crates/signoff", "crates/signoff-config", "crates/signoff-sqlite", "crates/signoff-postgres", "bindings/python"):
            src = {f"{crate}/{f}" for f in tracked(crate) if f.startswith("src/")}
            missing = src - names
            if missing:
                problem(f"{art}: lacks sources {sorted(missing)[:3]}")
        for name in names:
            ok = name in {"pyproject.toml", "PKG-INFO", "Cargo.toml", "Cargo.lock", "README.md"} or name.startswith("python/")
            ok = ok or re.fullmatch(r"(crates/[a-z-]+|bindings/python)/(Cargo\.toml|README\.md|build\.rs|src/.+\.rs)", name) is not None
            if not ok:
                problem(f"{art}: ships {name}, which the build does not need")
        if f"{top}PKG-INFO" in files:
            metadata(art, files[f"{top}PKG-INFO"], version)
    print(f"  sdist {art}: {mib(path.stat().st_size)} ({len(names)} files)")
    sources = {n for n in names if "/src/" in n}
    crates = sorted({n.split("/src/")[0] for n in sources})
    listing({n for n in names if n not in sources} | {f"{c}/src/*({sum(n.startswith(c + '/src/') for n in sources)})" for c in crates})


def read(t: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    f = t.extractfile(member)
    if f is None:
        raise ValueError(f"{member.name} is not a file")
    return f.read()


def npm_members(path: pathlib.Path) -> tuple[dict[str, bytes], dict[str, Any]]:
    with tarfile.open(path) as t:
        members = {}
        for m in t.getmembers():
            if not m.isfile():
                continue
            if not m.name.startswith("package/"):
                problem(f"{path.name}: entry {m.name} outside package/")
            members[m.name[len("package/") :]] = read(t, m)
    common(path.name, members)
    manifest: dict[str, Any] = json.loads(members.get("package.json", b"{}"))
    return members, manifest


def registry_fields(art: str, pkg: dict[str, Any], version: str) -> None:
    if pkg.get("version") != version:
        problem(f"{art}: version {pkg.get('version')}, not the workspace's {version}")
    for key in ("description", "license", "homepage", "repository", "keywords", "engines", "files"):
        if not pkg.get(key):
            problem(f"{art}: package.json has no {key}")
    if pkg.get("license") != "Apache-2.0":
        problem(f"{art}: license {pkg.get('license')!r}")
    if (pkg.get("engines") or {}).get("node") != ">=18":
        problem(f"{art}: engines.node should be >=18")
    scripts = pkg.get("scripts") or {}
    for hook in ("preinstall", "install", "postinstall"):
        if hook in scripts:
            problem(f"{art}: an {hook} script (installing must build nothing)")


def check_npm_main(path: pathlib.Path, version: str) -> None:
    art = path.name
    members, pkg = npm_members(path)
    registry_fields(art, pkg, version)
    adapters = {f"adapters/{f}" for f in tracked("bindings/node/adapters")}
    want = {"package.json", "README.md", "index.js", "index.mjs", "index.d.ts", "binding.js", "binding.d.ts"} | adapters
    same(art, set(members), want)
    if pkg.get("optionalDependencies") != {f"signoff-{PLATFORM}": version}:
        problem(f"{art}: optionalDependencies {pkg.get('optionalDependencies')}, not the platform package at {version}")
    if pkg.get("dependencies"):
        problem(f"{art}: dependencies {pkg.get('dependencies')} (the package needs none)")
    exports = pkg.get("exports") or {}
    if "." not in exports:
        problem(f"{art}: exports has no '.'")
    for sub, target in exports.items():
        if sub == "./package.json":
            continue
        if not isinstance(target, dict) or list(target)[:1] != ["types"]:
            problem(f"{art}: exports[{sub!r}] must list `types` first")
            continue
        for cond in ("types", "import", "require"):
            file = str(target.get(cond, ""))
            if file.removeprefix("./") not in members:
                problem(f"{art}: exports[{sub!r}].{cond} is {file!r}, which the package does not hold")
    if b"bindingPackageVersion !== '" + version.encode() + b"'" not in members.get("binding.js", b""):
        problem(f"{art}: binding.js expects another version of the platform package")
    print(f"  npm {art}: {mib(path.stat().st_size)} ({len(members)} files, exports {', '.join(exports)})")
    listing(set(members))


def check_npm_platform(path: pathlib.Path, version: str) -> None:
    art = path.name
    members, pkg = npm_members(path)
    registry_fields(art, pkg, version)
    same(art, set(members), {"package.json", "README.md", ADDON})
    want = {"name": f"signoff-{PLATFORM}", "main": ADDON, "os": ["linux"], "cpu": ["x64"], "libc": ["glibc"]}
    for key, value in want.items():
        if pkg.get(key) != value:
            problem(f"{art}: package.json {key} is {pkg.get(key)!r}, not {value!r}")
    if ADDON in members:
        elf_release(art, ADDON, members[ADDON])
        print(f"  npm {art}: {mib(path.stat().st_size)} (addon {mib(len(members[ADDON]))} unpacked)")
    listing(set(members))


def main() -> None:
    dist, version = pathlib.Path(sys.argv[1]), sys.argv[2]
    found = sorted(p.name for p in dist.iterdir())
    wheels = sorted(dist.glob(f"signoff-{version}-*.whl"))
    if len(wheels) != 1:
        problem(f"dist/ should hold one wheel, holds {[w.name for w in wheels]}")
    for w in wheels:
        check_wheel(w, version)
    want = {w.name for w in wheels} | {f"signoff-{version}.tar.gz", f"signoff-{version}.tgz", f"signoff-{PLATFORM}-{version}.tgz", "SHA256SUMS"}
    if set(found) != want:
        problem(f"dist/ holds {found}, not {sorted(want)}")
    checks = {
        f"signoff-{version}.tar.gz": check_sdist,
        f"signoff-{version}.tgz": check_npm_main,
        f"signoff-{PLATFORM}-{version}.tgz": check_npm_platform,
    }
    for name, check in checks.items():
        if (dist / name).exists():
            check(dist / name, version)
    sums = (dist / "SHA256SUMS").read_text().split() if (dist / "SHA256SUMS").exists() else []
    if sorted(sums[1::2]) != sorted(want - {"SHA256SUMS"}):
        problem(f"SHA256SUMS lists {sums[1::2]}, not every package")
    if problems:
        print("\n".join(f"dist: {p}" for p in problems), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
