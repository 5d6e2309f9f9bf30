"""What this machine computes well: timings and the choice of the frozen LLM's dtype depend on it."""
from __future__ import annotations

import functools
import os
import platform
import resource
from pathlib import Path

import torch

BF16_FLAGS = {"avx512_bf16", "amx_bf16"}   # CPU flags of native bfloat16 arithmetic


@functools.lru_cache(maxsize=1)
def cpu_info() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (empty where there is none)."""
    path = Path("/proc/cpuinfo")
    text = path.read_text() if path.is_file() else ""
    info: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break
        key, _, value = line.partition(":")
        info.setdefault(key.strip(), value.strip())
    return info


def cpu_flags() -> set[str]:
    return set(cpu_info().get("flags", "").split())


def native_bf16() -> bool:
    """Whether bfloat16 runs at full speed here: a CUDA device that supports it, or a CPU with
    AVX-512 bf16 or AMX. Without them PyTorch emulates it on the CPU, many times slower than float32."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return bool(cpu_flags() & BF16_FLAGS)


def machine() -> str:
    """This machine in a few words: its CPU's model, cores, widest vector unit and bf16 support,
    then the GPU where torch sees one (the runs use it unless told `--device cpu`)."""
    flags = cpu_flags()
    vector = "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "no avx2"
    bf16 = " with bf16" if flags & BF16_FLAGS else ""
    name = cpu_info().get("model name") or platform.processor() or "unknown CPU"
    gpu = f"; GPU: {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return f"{name}, {os.cpu_count()} cores, {vector}{bf16}{gpu}"


def peak_memory_mb() -> float:
    """This process's peak resident memory so far, in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
