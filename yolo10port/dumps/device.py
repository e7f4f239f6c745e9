"""Where a torch run happens, and its numerics on purpose: TF32 off unless asked, recorded in the dump.

torch allows TensorFloat-32 for cuDNN convolutions by default, which moves CUDA float32 outputs by ~1e-3 of their
scale (README, "GPU"). A reference must never carry that by accident, so every torch run goes through `numerics()`,
which sets the flags for the run, restores them after, and returns what the dump's metadata records.
"""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Iterator

import torch

from yolo10port.errors import InputError

TORCH_DTYPES = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}


def torch_device(name: str) -> torch.device:
    """`cpu`, `cuda` or `cuda:N`; InputError (exit 2, nothing written) when that device does not exist here."""
    if name == "cpu":
        return torch.device("cpu")
    if name != "cuda" and not (name.startswith("cuda:") and name[5:].isdigit()):
        raise InputError("--device", f"{name!r} is not cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise InputError("--device", f"{name}: CUDA is not available on this machine (torch {torch.__version__})")
    device = torch.device(name)
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise InputError("--device", f"{name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


@contextlib.contextmanager
def numerics(device: torch.device, tf32: bool = False) -> Iterator[dict[str, str]]:
    """Run with TF32 as chosen (and deterministic cuDNN when TF32 is off); yield the metadata to record."""
    if device.type != "cuda":
        yield {"device": f"cpu ({cpu_name()})", "torch": torch.__version__}
        return
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    saved = (cudnn.allow_tf32, matmul.allow_tf32, cudnn.deterministic, cudnn.benchmark)
    cudnn.allow_tf32 = matmul.allow_tf32 = tf32
    cudnn.deterministic = not tf32
    cudnn.benchmark = False
    try:
        yield {
            "device": f"{device} ({torch.cuda.get_device_name(device)})",
            "torch": torch.__version__,
            "cuda": str(torch.version.cuda),
            "cudnn": str(cudnn.version()),
            "tf32_conv": str(cudnn.allow_tf32).lower(),
            "tf32_matmul": str(matmul.allow_tf32).lower(),
            "deterministic": str(cudnn.deterministic).lower(),
        }
    finally:
        cudnn.allow_tf32, matmul.allow_tf32, cudnn.deterministic, cudnn.benchmark = saved
