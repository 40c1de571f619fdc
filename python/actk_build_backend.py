"""A minimal PEP 517 build backend for the pure-Python actk package: builds the wheel (and an
sdist) with the standard library only, so `pip install ./python` needs no network and no
setuptools. Wheel layout per PEP 427 / the binary distribution format specification."""
import base64
import hashlib
import os
import tarfile
import zipfile

NAME, VERSION = "actk", "0.1.0"
HERE = os.path.dirname(os.path.abspath(__file__))
SUMMARY = "PyTorch bindings (autograd, nn modules, torch.compile ops) for actk's fused activation kernels"


def _package_files():
    root = os.path.join(HERE, NAME)
    for d, _, files in sorted(os.walk(root)):
        if "__pycache__" in d:
            continue
        for f in sorted(files):
            if f.endswith(".py"):
                full = os.path.join(d, f)
                yield full, os.path.relpath(full, HERE).replace(os.sep, "/")


def _metadata():
    with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    return (f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\nSummary: {SUMMARY}\n"
            f"Requires-Python: >=3.8\nDescription-Content-Type: text/markdown\n\n{readme}")


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def _digest(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = f"{NAME}-{VERSION}-py3-none-any.whl"
    info = f"{NAME}-{VERSION}.dist-info"
    records = []
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w", zipfile.ZIP_DEFLATED) as z:
        def add(arcname, data):
            z.writestr(arcname, data)
            records.append(f"{arcname},{_digest(data)},{len(data)}")

        for full, rel in _package_files():
            with open(full, "rb") as f:
                add(rel, f.read())
        add(f"{info}/METADATA", _metadata().encode())
        add(f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: actk_build_backend\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        records.append(f"{info}/RECORD,,")
        z.writestr(f"{info}/RECORD", "\n".join(records) + "\n")
    return name


def build_sdist(sdist_directory, config_settings=None):
    base = f"{NAME}-{VERSION}"
    name = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as t:
        for rel in ["pyproject.toml", "README.md", "actk_build_backend.py"]:
            t.add(os.path.join(HERE, rel), f"{base}/{rel}")
        for full, rel in _package_files():
            t.add(full, f"{base}/{rel}")
        pkg_info = os.path.join(sdist_directory, "PKG-INFO.tmp")
        with open(pkg_info, "w", encoding="utf-8") as f:
            f.write(_metadata())
        t.add(pkg_info, f"{base}/PKG-INFO")
        os.remove(pkg_info)
    return name
