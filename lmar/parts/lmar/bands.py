"""How LMAR's PyTorch path splits a full-resolution image into bands of pixels for its kernel network,
for ``chunk_pixels="auto"`` and ``checkpoint="auto"``: a band's working set per pixel, the pixels per
band that fit a share of the free memory, and whether a pass with gradients must recompute its bands."""

from __future__ import annotations

import torch

from lmar.parts.lmar.inputs import KERNEL, N_INPUTS

# Band working-set budget for chunk_pixels="auto": a fraction of the free memory, capped so that
# 4K inference stays within about 2 GB on a CPU and adds well under 1 GB on a GPU.
CHUNK_BUDGET_FRACTION = 0.125
CHUNK_BUDGET_CAP = {"cpu": 384 * 2**20, "cuda": 512 * 2**20}
# On a CPU, bands also stay small enough for the caches and the allocator to reuse their memory:
# 8192-pixel bands ran the default MLP 2.5x (inference) and 1.8x (training) faster than 262144-pixel
# ones on the 2-core reference machine (large fresh buffers cost page faults, and miss the caches).
CHUNK_CACHE_PIXELS = {"cpu": 8192}
# With gradients and chunk_pixels="auto", bands are checkpointed only when keeping all their
# activations would take more than this fraction of the free memory (a 1024x1024 crop: 6.4 GB).
CHECKPOINT_FRACTION = 0.25


def free_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    import psutil

    return psutil.virtual_memory().available


def band_bytes_per_pixel(hidden: int, depth: int, needs_grad: bool, kernel_size: int = KERNEL) -> int:
    """A band's float32 working set per pixel: features, patches (3 k^2), kernels (9 k^2) and output,
    plus two hidden activations (inference) or all of them (what a backward pass needs kept)."""
    live = 2 if not needs_grad else 2 * depth + 1
    taps = 3 * kernel_size * kernel_size
    return 4 * (N_INPUTS + taps + 3 * taps + 3 + hidden * live)


@torch.compiler.disable  # a plain int from the host, never a symbol in a compiled graph
def auto_chunk_pixels(
    device: torch.device, hidden: int, depth: int, needs_grad: bool, kernel_size: int = KERNEL
) -> int:
    """Pixels per band such that the band's working set (:func:`band_bytes_per_pixel`) fits the
    budget; on a CPU at most CHUNK_CACHE_PIXELS."""
    budget = min(CHUNK_BUDGET_FRACTION * free_memory(device), CHUNK_BUDGET_CAP.get(device.type, 2**29))
    per_pixel = band_bytes_per_pixel(hidden, depth, needs_grad, kernel_size)
    return max(1, min(int(budget // per_pixel), CHUNK_CACHE_PIXELS.get(device.type, 2**62)))


@torch.compiler.disable
def auto_checkpoint(device: torch.device, hidden: int, depth: int, pixels: int, kernel_size: int = KERNEL) -> bool:
    """Whether a pass with gradients over ``pixels`` pixels checkpoints its bands (recomputing
    each in the backward pass, about a third more arithmetic) because keeping every band's
    activations would take more than CHECKPOINT_FRACTION of the free memory."""
    return pixels * band_bytes_per_pixel(hidden, depth, True, kernel_size) > CHECKPOINT_FRACTION * free_memory(device)
