"""Wire-protocol numbers and fixed layouts (../shared/spec/wire-protocol.md §1, §4, §5).

Shared by the data path and the emulator. Only constants and tiny pack/unpack helpers:
no sockets, no state.
"""

from __future__ import annotations

import struct

__all__ = [
    "AS_MSG_HEADER",
    "FIELD_HEADER",
    "OP_HEADER",
    "PROTO_SIZE_MAX",
    "PROTO_VERSION",
    "Field",
    "Info1",
    "Info2",
    "Info3",
    "MsgType",
    "Op",
    "Result",
    "TRANSIENT_RESULTS",
    "pack_proto",
    "unpack_proto",
]

PROTO_VERSION = 2
PROTO_SIZE_MAX = 128 * 1024 * 1024


class MsgType:
    INFO = 1
    ADMIN = 2
    AS_MSG = 3
    COMPRESSED = 4
    XDR = 5


def pack_proto(msg_type: int, size: int) -> bytes:
    """The 8-byte proto header: version 2, type, 48-bit big-endian body size."""
    return ((PROTO_VERSION << 56) | (msg_type << 48) | size).to_bytes(8, "big")


def unpack_proto(header: bytes) -> tuple[int, int, int]:
    """(version, type, size) of an 8-byte proto header."""
    value = int.from_bytes(header[:8], "big")
    return value >> 56, (value >> 48) & 0xFF, value & 0xFFFF_FFFF_FFFF


#: AS_MSG header (22 bytes): header_sz, info1, info2, info3, info4, result_code, generation,
#: record_ttl (void time in replies), transaction_ttl (batch row index in replies), n_fields, n_ops.
AS_MSG_HEADER = struct.Struct(">BBBBBBIIIHH")
#: Field header: u32 size (= data length + 1), u8 type.
FIELD_HEADER = struct.Struct(">IB")
#: Op header: u32 size (= 4 + name length + value length), op type, particle type, flags, name len.
OP_HEADER = struct.Struct(">IBBBB")


class Info1:
    READ = 0x01
    GET_ALL = 0x02
    SHORT_QUERY = 0x04
    BATCH = 0x08
    XDR = 0x10
    GET_NO_BINS = 0x20
    READ_MODE_AP_ALL = 0x40
    COMPRESS_RESPONSE = 0x80


class Info2:
    WRITE = 0x01
    DELETE = 0x02
    GENERATION = 0x04
    GENERATION_GT = 0x08
    DURABLE_DELETE = 0x10
    CREATE_ONLY = 0x20
    RELAX_AP_LONG_QUERY = 0x40
    RESPOND_ALL_OPS = 0x80


class Info3:
    LAST = 0x01
    COMMIT_MASTER = 0x02
    PARTITION_DONE = 0x04
    UPDATE_ONLY = 0x08
    CREATE_OR_REPLACE = 0x10
    REPLACE_ONLY = 0x20
    SC_READ_TYPE = 0x40
    SC_READ_RELAX = 0x80


class Field:
    NAMESPACE = 0
    SET = 1
    KEY = 2
    RECORD_VERSION = 3
    DIGEST = 4
    TXN_ID = 5
    TXN_DEADLINE = 6
    TASK_ID = 7
    SOCKET_TIMEOUT = 9
    RPS = 10
    PID_ARRAY = 11
    DIGEST_ARRAY = 12
    MAX_RECORDS = 13
    LUT = 14
    BVAL_ARRAY = 15
    INDEX_NAME = 21
    INDEX_RANGE = 22
    INDEX_CONTEXT = 23
    INDEX_EXPRESSION = 24
    INDEX_TYPE = 26
    UDF_PACKAGE_NAME = 30
    UDF_FUNCTION = 31
    UDF_ARGLIST = 32
    UDF_OP = 33
    QUERY_BINS = 40
    BATCH_INDEX = 41
    BATCH_WITH_SET = 42
    FILTER = 43


class Op:
    READ = 1
    WRITE = 2
    CDT_READ = 3
    CDT_MODIFY = 4
    INCR = 5
    EXP_READ = 7
    EXP_MODIFY = 8
    APPEND = 9
    PREPEND = 10
    TOUCH = 11
    BITS_READ = 12
    BITS_MODIFY = 13
    DELETE = 14
    HLL_READ = 15
    HLL_MODIFY = 16


class Result:
    OK = 0
    UNKNOWN = 1
    NOT_FOUND = 2
    GENERATION = 3
    PARAMETER = 4
    RECORD_EXISTS = 5
    BIN_EXISTS = 6
    CLUSTER_KEY_MISMATCH = 7
    OUT_OF_SPACE = 8
    TIMEOUT = 9
    UNAVAILABLE = 11
    INCOMPATIBLE_TYPE = 12
    RECORD_TOO_BIG = 13
    KEY_BUSY = 14
    QUERY_ABORT = 15
    UNSUPPORTED_FEATURE = 16
    BIN_NOT_FOUND = 17
    DEVICE_OVERLOAD = 18
    KEY_MISMATCH = 19
    NAMESPACE = 20
    BIN_NAME = 21
    FORBIDDEN = 22
    ENTERPRISE_ONLY = 25
    FILTERED_OUT = 27
    XDR_KEY_BUSY = 32
    NOT_AUTHENTICATED = 80
    UDF_EXECUTION = 100
    BATCH_DISABLED = 150
    BATCH_MAX_REQUESTS = 151
    BATCH_QUEUES_FULL = 152
    SINDEX_FOUND = 200
    SINDEX_NOT_FOUND = 201


#: Result codes worth retrying (wire-protocol.md §4.4, "Transient codes for a retrying writer").
TRANSIENT_RESULTS = frozenset(
    {Result.TIMEOUT, Result.UNAVAILABLE, Result.KEY_BUSY, Result.DEVICE_OVERLOAD, Result.XDR_KEY_BUSY,
     Result.CLUSTER_KEY_MISMATCH}
)
