"""Which BLAS this PyTorch runs on, and on how many threads. Debian's torch calls whatever libblas.so.3 the
alternatives system points at; on the reference BLAS every ratio against PyTorch would flatter Unclamp, so the
benchmarks refuse to run there. Debian's torch 1.13 has no OpenMP (torch.get_num_threads() is 1), but OpenBLAS
runs its own threads, one per core by default: the thread count that matters for a matrix product is OpenBLAS's."""
import ctypes
import sys

import torch


def _openblas():
    try:
        return ctypes.CDLL("libopenblas.so.0")
    except OSError:
        return None


def set_threads(n):
    """Run OpenBLAS's products on n threads (the Unclamp side's count, for a fair ratio). torch's own intra-op
    count stays as it is: raised beside OpenBLAS's threads it oversubscribes the cores (measured on 2 cores: the
    hook-onward step 169 ms with torch at 1 and OpenBLAS at 2 threads, 412 ms with both at 2)."""
    lib = _openblas()
    if lib is not None:
        lib.openblas_set_num_threads(n)
    else:
        torch.set_num_threads(n)


def blas_threads():
    lib = _openblas()
    return lib.openblas_get_num_threads() if lib is not None else torch.get_num_threads()


def require_openblas():
    """Exits unless OpenBLAS is mapped; returns a line naming the BLAS, its kernel and the thread counts."""
    torch.randn(64, 64) @ torch.randn(64, 64)  # load the BLAS
    mapped = sorted({l.split()[-1] for l in open("/proc/self/maps") if "blas" in l.split()[-1]})
    if not any("openblas" in m for m in mapped):
        sys.exit(f"PyTorch runs on {mapped or 'no BLAS'}, not OpenBLAS: the reference BLAS would flatter every ratio; install libopenblas0-pthread")
    lib = _openblas()
    if lib is not None:
        lib.openblas_get_config.restype = ctypes.c_char_p
        lib.openblas_get_corename.restype = ctypes.c_char_p
        kernel = f"{lib.openblas_get_config().decode()}, kernel {lib.openblas_get_corename().decode()}"
    else:
        kernel = "OpenBLAS (libopenblas.so.0 not loadable for its config)"
    return f"torch {torch.__version__}: {kernel}; OpenBLAS {blas_threads()} threads, torch {torch.get_num_threads()} intra-op threads"


def matmul_peak_gflops(device="cpu", n=1024):
    """GFLOP/s of an n³ float32 product, the best of five after one warm-up: the ceiling the step's GFLOP/s is read
    against (the Unclamp side measures its backend's the same way, bench/levels.ts)."""
    import time

    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    sync = torch.cuda.synchronize if str(device).startswith("cuda") else (lambda: None)
    best = float("inf")
    for i in range(6):
        t0 = time.perf_counter()
        a @ b
        sync()
        if i:
            best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9
