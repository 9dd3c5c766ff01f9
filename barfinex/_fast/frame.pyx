# cython: language_level=3
"""Bus frame codec: one frame per event, topic first for SUB prefix filters.

Layout (little-endian)::

    topic | 0x00 | magic u8 | version u8 | type u16 | source_len u8 | flags u8
          | reserved u16 | seq u64 | ts_ns i64 | exch_ts_ns i64
          | event_id 16B | correlation_id 16B | causation_id 16B
          | source (source_len B) | payload

One frame rather than multipart: pyzmq's send_multipart costs ~3 us a message
here against ~0.5 us for one frame (bench/RESULTS.md).
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint64_t
from libc.string cimport memchr, memcpy, memset

MAGIC = MAGIC_C
WIRE_VERSION = WIRE_VERSION_C
HEADER_SIZE = HEADER_SIZE_C
ID_SIZE = ID_SIZE_C
MAX_SOURCE = 255


class FrameError(ValueError):
    """A frame that cannot be decoded; the message says what is wrong with it."""


cdef inline void _put_u64(char* p, uint64_t v) noexcept nogil:
    # memcpy of a fixed 8 bytes compiles to one unaligned store on x86-64
    memcpy(p, &v, 8)


cdef inline uint64_t _get_u64(const char* p) noexcept nogil:
    cdef uint64_t v
    memcpy(&v, p, 8)
    return v


cdef inline void _put_id(char* p, bytes ident) noexcept:
    cdef Py_ssize_t n = PyBytes_GET_SIZE(ident)
    if n == ID_SIZE_C:
        memcpy(p, PyBytes_AS_STRING(ident), ID_SIZE_C)
    else:
        memset(p, 0, ID_SIZE_C)


cdef class Header:
    """A decoded frame: the header fields, the topic, the source and the payload."""

    def __repr__(self):
        return (f"Header(topic={self.topic!r}, type={self.type}, seq={self.seq}, "
                f"source={self.source!r}, ts_ns={self.ts_ns}, "
                f"payload={len(self.payload)}B)")


cpdef bytes encode_frame(bytes topic, int msg_type, uint64_t seq, int64_t ts_ns,
                         int64_t exch_ts_ns, bytes id_prefix, uint64_t id_counter,
                         bytes correlation_id, bytes causation_id, bytes source,
                         bytes payload):
    """Build one frame. Raises FrameError on a topic with a NUL byte, an id
    prefix that is not 8 bytes, a correlation/causation id that is neither
    empty nor 16 bytes, or a source longer than 255 bytes."""
    cdef Py_ssize_t tlen = PyBytes_GET_SIZE(topic)
    cdef Py_ssize_t slen = PyBytes_GET_SIZE(source)
    cdef Py_ssize_t plen = PyBytes_GET_SIZE(payload)
    cdef const char* t = PyBytes_AS_STRING(topic)
    if tlen == 0 or memchr(t, 0, tlen) != NULL:
        raise FrameError("topic must be non-empty and free of NUL bytes")
    if PyBytes_GET_SIZE(id_prefix) != 8:
        raise FrameError("id_prefix must be 8 bytes")
    if PyBytes_GET_SIZE(correlation_id) not in (0, ID_SIZE_C):
        raise FrameError("correlation_id must be empty or 16 bytes")
    if PyBytes_GET_SIZE(causation_id) not in (0, ID_SIZE_C):
        raise FrameError("causation_id must be empty or 16 bytes")
    if slen > MAX_SOURCE:
        raise FrameError("source longer than 255 bytes")
    if msg_type < 0 or msg_type > 0xFFFF:
        raise FrameError("msg_type out of range 0..65535")

    cdef Py_ssize_t total = tlen + 1 + HEADER_SIZE_C + slen + plen
    cdef bytes out = PyBytes_FromStringAndSize(NULL, total)
    cdef char* p = PyBytes_AS_STRING(out)
    cdef uint16_t mtype = <uint16_t>msg_type
    memcpy(p, t, tlen)
    p += tlen
    p[0] = 0
    p += 1
    p[0] = <char><uint8_t>MAGIC_C
    p[1] = <char><uint8_t>WIRE_VERSION_C
    memcpy(p + 2, &mtype, 2)
    p[4] = <char><uint8_t>slen
    p[5] = 0
    p[6] = 0
    p[7] = 0
    _put_u64(p + 8, seq)
    _put_u64(p + 16, <uint64_t>ts_ns)
    _put_u64(p + 24, <uint64_t>exch_ts_ns)
    memcpy(p + 32, PyBytes_AS_STRING(id_prefix), 8)
    _put_u64(p + 40, id_counter)
    _put_id(p + 48, correlation_id)
    _put_id(p + 64, causation_id)
    p += HEADER_SIZE_C
    memcpy(p, PyBytes_AS_STRING(source), slen)
    memcpy(p + slen, PyBytes_AS_STRING(payload), plen)
    return out


cpdef Header decode_frame(bytes frame):
    """Split a frame into its Header. Raises FrameError naming what is wrong."""
    cdef Py_ssize_t n = PyBytes_GET_SIZE(frame)
    cdef const char* base = PyBytes_AS_STRING(frame)
    cdef const char* nul = <const char*>memchr(base, 0, n)
    if nul == NULL:
        raise FrameError("no topic terminator (not a barfinex frame)")
    cdef Py_ssize_t tlen = nul - base
    if tlen == 0:
        raise FrameError("empty topic")
    cdef const char* h = nul + 1
    cdef Py_ssize_t rest = n - tlen - 1
    if rest < HEADER_SIZE_C:
        raise FrameError(f"truncated header: {rest} of {HEADER_SIZE_C} bytes")
    if <uint8_t>h[0] != MAGIC_C:
        raise FrameError(f"bad magic 0x{<uint8_t>h[0]:02x}")
    if <uint8_t>h[1] != WIRE_VERSION_C:
        raise FrameError(f"unsupported wire version {<uint8_t>h[1]}")
    cdef Py_ssize_t slen = <uint8_t>h[4]
    if rest - HEADER_SIZE_C < slen:
        raise FrameError("truncated source")
    cdef uint16_t mtype
    memcpy(&mtype, h + 2, 2)
    cdef Header hd = Header.__new__(Header)
    hd.topic = PyBytes_FromStringAndSize(base, tlen)
    hd.version = <uint8_t>h[1]
    hd.type = mtype
    hd.flags = <uint8_t>h[5]
    hd.seq = _get_u64(h + 8)
    hd.ts_ns = <int64_t>_get_u64(h + 16)
    hd.exch_ts_ns = <int64_t>_get_u64(h + 24)
    hd.event_id = PyBytes_FromStringAndSize(h + 32, ID_SIZE_C)
    hd.correlation_id = PyBytes_FromStringAndSize(h + 48, ID_SIZE_C)
    hd.causation_id = PyBytes_FromStringAndSize(h + 64, ID_SIZE_C)
    hd.source = PyBytes_FromStringAndSize(h + HEADER_SIZE_C, slen)
    hd.payload = PyBytes_FromStringAndSize(h + HEADER_SIZE_C + slen,
                                           rest - HEADER_SIZE_C - slen)
    return hd
