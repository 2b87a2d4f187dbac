"""The machine a run happens on: which device, which precision the network runs in there, and a description of
both for the JSON written beside every image, figure and benchmark."""
from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path

import torch

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class DeviceError(ValueError):
    """A device that is not there; the message names what is."""


def available_devices() -> list[str]:
    return ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]


def resolve_device(device: str) -> torch.device:
    """auto (CUDA when available) | cpu | cuda | cuda:N, checked to exist."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, ValueError):
        raise DeviceError(f"unknown device {device!r}; available: auto, {', '.join(available_devices())}") from None
    if resolved.type == "cpu":
        return resolved
    if resolved.type == "cuda" and torch.cuda.is_available() and (resolved.index or 0) < torch.cuda.device_count():
        return resolved
    raise DeviceError(f"device {device!r} is not available here; available: {', '.join(available_devices())}")


def available_memory(device: torch.device) -> int | None:
    """Bytes free for a run on ``device``; None where it cannot be told."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def load_average() -> str:
    """The 1/5/15-minute load average: whether a timing shared the cores with other work."""
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def total_memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    return "n/a"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_bf16_kind() -> str | None:
    """'amx' or 'avx512' where the CPU runs bfloat16 matmuls natively, else None."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    return "amx" if "amx_bf16" in flags else ("avx512" if "avx512_bf16" in flags else None)


def resolve_precision(precision: str, device: torch.device) -> tuple[torch.dtype, bool]:
    """(network dtype, channels_last). auto: bf16 + channels_last where the hardware runs bf16 natively
    (CPUs with AVX512-BF16 or AMX, CUDA GPUs that support it); elsewhere float32, in channels_last on a CPU,
    where oneDNN's float32 convolutions then run without reordering their input (faster on an AVX2-only CPU,
    reproduce/bench.py), and in torch's default layout on a GPU."""
    if precision == "auto":
        # a GPU before Ampere runs bfloat16 only emulated, slower than float32
        if (torch.cuda.is_bf16_supported(including_emulation=False) if device.type == "cuda"
                else cpu_bf16_kind() is not None):
            return torch.bfloat16, True
        return torch.float32, device.type == "cpu"
    dtype = PRECISIONS[precision]
    return dtype, dtype != torch.float32


def emulation_warning(precision: str, device: torch.device) -> str | None:
    """A line for the user who asks for bfloat16 on a CPU that only emulates it, else None."""
    if precision == "bf16" and device.type == "cpu" and cpu_bf16_kind() is None:
        return ("bfloat16 is emulated on this CPU (it has neither AVX512-BF16 nor AMX): each evaluation takes "
                "tens of times longer than with --precision auto (float32 here)")
    return None


@contextlib.contextmanager
def ieee_float32(device: torch.device):
    """float32 computed as float32 on a GPU for as long as the block runs, then the caller's settings back.

    cuDNN runs float32 convolutions in TF32 by default (a 10-bit mantissa, against bfloat16's 7 and float32's 23),
    so on a GPU ``--precision fp32``, and the float32 continuation of a bf16 run whose line search stalled,
    would not be float32. The matmul setting is pinned too, should the caller have changed it, and so is cuBLAS's
    licence to add a split bfloat16 product's partial sums in bfloat16: the Gram matrices (loss.gram_minus) are
    such products, N x N from M of up to hundreds of thousands of positions, and need their sums in float32.
    The settings are process-wide, which autograd's backward threads also read, so a whole run goes inside.
    On a CPU: nothing."""
    if device.type != "cuda":
        yield
        return
    conv, matmul = torch.backends.cudnn.conv, torch.backends.cuda.matmul
    saved = conv.fp32_precision, matmul.fp32_precision, matmul.allow_bf16_reduced_precision_reduction
    conv.fp32_precision = matmul.fp32_precision = "ieee"
    matmul.allow_bf16_reduced_precision_reduction = False
    try:
        yield
    finally:
        conv.fp32_precision, matmul.fp32_precision, matmul.allow_bf16_reduced_precision_reduction = saved


def describe(device: torch.device | None = None) -> dict:
    """What a number was measured on: CPU, cores, threads, GPU, library versions."""
    import numpy
    import PIL
    import scipy
    info = {"cpu": cpu_name(), "cpu_bf16": cpu_bf16_kind() or "none", "cores": os.cpu_count(),
            "memory": total_memory(), "torch_threads": torch.get_num_threads(), "platform": platform.platform(),
            "python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__,
            "scipy": scipy.__version__, "pillow": PIL.__version__}
    if device is not None:
        info["device"] = str(device)
        if device.type == "cuda":
            info["gpu"] = torch.cuda.get_device_name(device)
    return info
