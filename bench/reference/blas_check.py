"""Which BLAS this PyTorch runs on. Debian's torch calls whatever libblas.so.3 the alternatives system points at;
on the reference BLAS every ratio against PyTorch would flatter Unclamp, so the benchmarks refuse to run there."""
import sys

import torch


def require_openblas():
    """Exits unless OpenBLAS is mapped; returns a line naming the BLAS, its kernel and the thread count."""
    torch.randn(64, 64) @ torch.randn(64, 64)  # load the BLAS
    mapped = sorted({l.split()[-1] for l in open("/proc/self/maps") if "blas" in l.split()[-1]})
    if not any("openblas" in m for m in mapped):
        sys.exit(f"PyTorch runs on {mapped or 'no BLAS'}, not OpenBLAS: the reference BLAS would flatter every ratio; install libopenblas0-pthread")
    try:
        import ctypes

        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_config.restype = ctypes.c_char_p
        lib.openblas_get_corename.restype = ctypes.c_char_p
        kernel = f"{lib.openblas_get_config().decode()}, kernel {lib.openblas_get_corename().decode()}"
    except OSError:
        kernel = "OpenBLAS (libopenblas.so.0 not loadable for its config)"
    return f"torch {torch.__version__}: {kernel}; {torch.get_num_threads()} threads"
