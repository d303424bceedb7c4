"""Builds the Python peer's deployment zips as one would for Lambda's python3.13 runtime on arm64:
the handler plus its dependencies' manylinux aarch64 wheels, unpacked. boto3 is left out: the
managed runtime provides it. Writes <out>/<function>.zip and prints their sizes as JSON.

Comparison only (see docs/benchmark.md). Usage: python package.py <out-dir>
"""

import json
import pathlib
import subprocess
import sys
import tempfile
import zipfile

HERE = pathlib.Path(__file__).parent
DEPENDENCIES = {"create_user": ["bcrypt", "PyJWT"], "send_email": []}


def pins():
    lines = (HERE / "requirements.txt").read_text().splitlines()
    return {l.split("==")[0].lower(): l.strip() for l in lines if "==" in l and not l.startswith("#")}


def main(out):
    out.mkdir(parents=True, exist_ok=True)
    pinned, sizes = pins(), {}
    for function, names in DEPENDENCIES.items():
        with tempfile.TemporaryDirectory() as wheels:
            if names:
                subprocess.run(
                    [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                     "--only-binary=:all:", "--platform", "manylinux2014_aarch64", "--python-version", "3.13",
                     "--implementation", "cp", "--dest", wheels, *[pinned[n.lower()] for n in names]],
                    check=True,
                )
            package = out / f"{function}.zip"
            with zipfile.ZipFile(package, "w", zipfile.ZIP_DEFLATED) as z:
                z.write(HERE / f"{function}.py", f"{function}.py")
                for wheel in sorted(pathlib.Path(wheels).glob("*.whl")):
                    with zipfile.ZipFile(wheel) as w:
                        for info in w.infolist():
                            z.writestr(info, w.read(info.filename))
            sizes[function.replace("_", "-")] = package.stat().st_size
    print(json.dumps(sizes))


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]))
