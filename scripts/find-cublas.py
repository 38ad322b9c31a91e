#!/usr/bin/env python3
"""Prints the libcublas.so.N files of the NVIDIA pip packages (nvidia-cublas: nvidia/cublas/lib for
CUDA 12 wheels, nvidia/cu13/lib for CUDA 13 ones) under this Python's site-packages, one per line,
those of the major version given (default 13, the CUDA the addon is built with) first, then higher
majors first. For hosts where cuBLAS exists only inside PyTorch's wheels:

    export CTXWIN_CUBLAS_PATH=$(python3 scripts/find-cublas.py | head -1)

scripts/gpu-check.sh (step env) does this when the dynamic loader finds no libcublas. The CUDA
addon also searches well-known site-packages folders itself (native/src/cuda/ops/cublas_search.h);
this script asks Python where its own site-packages are. Exit 1 when none is found.
"""
import glob
import os
import site
import sys


def site_dirs():
    dirs = []
    try:
        dirs += site.getsitepackages()
    except Exception:  # virtualenvs without getsitepackages
        pass
    try:
        dirs.append(site.getusersitepackages())
    except Exception:
        pass
    dirs += [p for p in sys.path if p]
    return dirs


def find(major):
    seen, hits = set(), []
    for d in site_dirs():
        for f in sorted(glob.glob(os.path.join(d, "nvidia", "*", "lib", "libcublas.so.*"))):
            suffix = os.path.basename(f)[len("libcublas.so."):]
            if not suffix.isdigit():  # libcublas.so.13.1.0.3 and the like: the soname file is enough
                continue
            real = os.path.realpath(f)
            if real in seen:
                continue
            seen.add(real)
            hits.append((int(suffix), f))
    hits.sort(key=lambda h: (h[0] != major, -h[0]))
    return [f for _, f in hits]


def main():
    major = int(sys.argv[1]) if len(sys.argv) > 1 else 13
    hits = find(major)
    for f in hits:
        print(f)
    return 0 if hits else 1


if __name__ == "__main__":
    sys.exit(main())
