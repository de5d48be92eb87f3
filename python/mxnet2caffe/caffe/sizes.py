"""Output sizes as Caffe computes them, for converters and passes alike."""


def pooling_output_size(size: int, kernel: int, stride: int, pad: int) -> int:
    """Caffe's Pooling output size: rounded up, minus a last window starting in the padding."""
    count = -(-(size + 2 * pad - kernel) // stride) + 1
    if pad and (count - 1) * stride >= size + pad:
        count -= 1
    return count
