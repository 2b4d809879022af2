"""ND4J's binary array format (`Nd4j.write`), read with numpy: no DL4J jars.

A file holds two data buffers, each written by a big-endian `DataOutputStream`: the shape information, then
the values. A buffer is `writeUTF(allocation mode)`, its length (int32 for the old modes DIRECT, HEAP and
JAVACPP; int64 for LONG_SHAPE and MIXED_DATA_TYPES), `writeUTF(data type)` and the elements. The shape
information is `[rank, shape..., strides..., extras, element-wise stride, order]`; the values are laid out
as the strides say (element strides, not bytes), whatever the 'c'/'f' order flag claims.
"""
from __future__ import annotations

import io
import struct

import numpy as np

# AllocationMode's ordinal decides the width of the length field: the first three are the old 32-bit ones.
_INT32_LENGTH_MODES = ("DIRECT", "HEAP", "JAVACPP")
_INT64_LENGTH_MODES = ("LONG_SHAPE", "MIXED_DATA_TYPES")

_DTYPES = {"DOUBLE": ">f8", "FLOAT": ">f4", "HALF": ">f2", "LONG": ">i8", "INT": ">i4", "SHORT": ">i2",
           "BYTE": "i1", "UBYTE": "u1", "BOOL": "u1", "UINT16": ">u2", "UINT32": ">u4", "UINT64": ">u8",
           "BFLOAT16": ">u2"}
_ORDERS = {99: "c", 102: "f"}


class _Reader:
    def __init__(self, stream, what: str):
        self.stream, self.what = stream, what

    def take(self, size: int) -> bytes:
        data = self.stream.read(size)
        if len(data) != size:
            raise ValueError(f"{self.what}: the ND4J array ends early (wanted {size} more bytes, found {len(data)}); "
                             "the file is truncated or not an ND4J array")
        return data

    def utf(self) -> str:
        (length,) = struct.unpack(">H", self.take(2))
        try:
            return self.take(length).decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{self.what}: not an ND4J array (unreadable header)") from None

    def buffer(self) -> np.ndarray:
        """One data buffer's values as a native-endian numpy array."""
        mode = self.utf()
        if mode in _INT32_LENGTH_MODES:
            (length,) = struct.unpack(">i", self.take(4))
        elif mode in _INT64_LENGTH_MODES:
            (length,) = struct.unpack(">q", self.take(8))
        else:
            raise ValueError(f"{self.what}: not an ND4J array: unknown allocation mode {mode!r} (expected one of "
                             f"{', '.join(_INT32_LENGTH_MODES + _INT64_LENGTH_MODES)})")
        dtype_name = self.utf()
        if dtype_name not in _DTYPES:
            raise ValueError(f"{self.what}: ND4J data type {dtype_name!r} is not supported "
                             f"(supported: {', '.join(sorted(_DTYPES))})")
        if length < 0:
            raise ValueError(f"{self.what}: ND4J buffer with negative length {length}")
        dtype = np.dtype(_DTYPES[dtype_name])
        raw = np.frombuffer(self.take(length * dtype.itemsize), dtype=dtype)
        if dtype_name == "BFLOAT16":  # the upper half of a float32
            return (raw.astype(np.uint32) << 16).view(np.float32)
        return raw.astype(dtype.newbyteorder("="))


def _from_shape_info(info: np.ndarray, data: np.ndarray, what: str) -> np.ndarray:
    if info.size < 4:
        raise ValueError(f"{what}: ND4J shape information is too short ({info.size} values)")
    rank = int(info[0])
    if rank < 0 or info.size != 2 * rank + 4:
        raise ValueError(f"{what}: ND4J shape information of length {info.size} does not fit rank {rank}")
    shape = tuple(int(d) for d in info[1:1 + rank])
    strides = tuple(int(s) for s in info[1 + rank:1 + 2 * rank])
    order = _ORDERS.get(int(info[-1]))
    if order is None or any(d < 0 for d in shape):
        raise ValueError(f"{what}: ND4J shape information {info.tolist()} is not valid")
    size = int(np.prod(shape)) if shape else 1
    if size == 0:
        return np.zeros(shape, dtype=data.dtype)
    # Size-1 axes may carry any stride; they never move the offset.
    strides = tuple(0 if d == 1 else s for d, s in zip(shape, strides))
    if any(s < 0 for s in strides):
        raise ValueError(f"{what}: negative ND4J strides {strides} are not supported")
    last = sum((d - 1) * s for d, s in zip(shape, strides))
    if last >= data.size:
        raise ValueError(f"{what}: ND4J array of shape {shape} with strides {strides} needs {last + 1} values, "
                         f"the file holds {data.size}")
    view = np.lib.stride_tricks.as_strided(data, shape=shape, strides=[s * data.itemsize for s in strides],
                                           writeable=False)
    return np.array(view)


def read_array(stream, what: str) -> np.ndarray:
    """The next ND4J array in a binary stream (shape information, then values)."""
    reader = _Reader(stream, what)
    info, data = reader.buffer(), reader.buffer()
    if not np.issubdtype(info.dtype, np.integer):
        raise ValueError(f"{what}: ND4J shape information must be integers, got {info.dtype}")
    return _from_shape_info(info, data, what)


def read_ndarray(source, what: str | None = None) -> np.ndarray:
    """An array written by `Nd4j.write` (a path, bytes, or a binary file object), in its own shape and dtype."""
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    if hasattr(source, "read"):
        return read_array(source, what or "ND4J array")
    with open(source, "rb") as stream:
        return read_array(stream, what or str(source))


# DataSet.save(): one flag byte saying which arrays follow, in this order.
_DATASET_PARTS = ((1, "features"), (2, "labels"), (4, "features_mask"), (8, "labels_mask"))


def read_dataset(path) -> dict[str, np.ndarray]:
    """A DL4J `DataSet.save()` file as {"features": ..., "labels": ..., and masks when present}."""
    with open(path, "rb") as stream:
        flags = stream.read(1)
        if len(flags) != 1 or flags[0] & ~0x0F:
            raise ValueError(f"{path}: not a DL4J DataSet file (its first byte must flag the arrays it holds)")
        return {name: read_array(stream, f"{path} ({name})") for bit, name in _DATASET_PARTS if flags[0] & bit}
