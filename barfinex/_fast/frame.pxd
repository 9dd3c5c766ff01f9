# Contract of the bus frame codec (barfinex/_fast/frame.pyx).
#
# A frame is one ZeroMQ message:
#   topic bytes | 0x00 | fixed header (80 B, little-endian) | source | payload
# The topic comes first so SUB prefix filtering works on the raw bytes.
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint64_t

cdef enum:
    HEADER_SIZE_C = 80
    ID_SIZE_C = 16
    MAGIC_C = 0xBF
    WIRE_VERSION_C = 1

cdef class Header:
    cdef readonly bytes topic           # CHANNEL.connector.market.SYMBOL
    cdef readonly int version           # wire version of the header
    cdef readonly int type              # payload type id (barfinex.model registry)
    cdef readonly int flags             # reserved bit field, 0 today
    cdef readonly uint64_t seq          # per publisher, per topic, gapless from 1
    cdef readonly int64_t ts_ns         # publisher clock (time.time_ns)
    cdef readonly int64_t exch_ts_ns    # exchange time, 0 when the exchange gave none
    cdef readonly bytes event_id        # 16 B: publisher id (8) + counter (8)
    cdef readonly bytes correlation_id  # 16 B, all zero when absent
    cdef readonly bytes causation_id    # 16 B, all zero when absent
    cdef readonly bytes source          # publishing actor's name
    cdef readonly bytes payload         # MessagePack body

cpdef bytes encode_frame(bytes topic, int msg_type, uint64_t seq, int64_t ts_ns,
                         int64_t exch_ts_ns, bytes id_prefix, uint64_t id_counter,
                         bytes correlation_id, bytes causation_id, bytes source,
                         bytes payload)
cpdef Header decode_frame(bytes frame)
