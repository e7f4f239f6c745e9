"""torch on demand for the weights reader.

Importing torch costs 3–4 s. Most files the reader refuses (a missing or empty file, a text file, a malicious or
malformed pickle, a corrupt safetensors header) are refused before any tensor exists, so the reader imports torch
only when it reads the first storage; until then nothing can be a tensor, and `is_tensor` says so without importing.
"""

from __future__ import annotations

import sys
from typing import Any


def is_tensor(value: Any) -> bool:
    torch = sys.modules.get("torch")  # not imported yet: no tensor can exist
    return torch is not None and isinstance(value, torch.Tensor)
