# cython: language_level=3
"""Non-blocking recv/send on a pyzmq socket, one frame, no exceptions on empty.

Why: an actor drains its SUB socket until it is empty after every wake-up,
and in spin mode it polls it between messages. Through pyzmq, the call that
finds the queue empty raises zmq.Again, which costs ~3.6 us here (a plain
recv ~0.25 us, send ~0.44 us); this door costs ~0.7 us for an empty poll
(libzmq's own 0-timeout check of its mailbox), ~0.14 us per frame received
and ~0.13 us per frame sent (bench/RESULTS.md, Bus).

The libzmq functions are the ones pyzmq itself is linked against, looked up
at import through pyzmq's compiled backend (dlsym searches a library's
dependencies), so there is one libzmq in the process whatever way pyzmq was
built (bundled or system), and nothing to link here.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.errno cimport EAGAIN
from libc.stdint cimport uintptr_t

import zmq

cdef extern from *:
    """
    /* zmq_msg_t: 64 opaque bytes, pointer-aligned, in every libzmq 4.x. */
    typedef struct bfx_zmq_msg_t { unsigned char _[64] __attribute__((aligned(sizeof(void *)))); } bfx_zmq_msg_t;
    """
    ctypedef struct bfx_zmq_msg_t:
        pass

ctypedef int (*msg_init_f)(bfx_zmq_msg_t*) noexcept nogil
ctypedef int (*msg_recv_f)(bfx_zmq_msg_t*, void*, int) noexcept nogil
ctypedef int (*msg_close_f)(bfx_zmq_msg_t*) noexcept nogil
ctypedef void* (*msg_data_f)(bfx_zmq_msg_t*) noexcept nogil
ctypedef size_t (*msg_size_f)(bfx_zmq_msg_t*) noexcept nogil
ctypedef int (*send_f)(void*, const void*, size_t, int) noexcept nogil
ctypedef int (*errno_f)() noexcept nogil

cdef enum:
    ZMQ_DONTWAIT_C = 1

cdef msg_init_f _msg_init = NULL
cdef msg_recv_f _msg_recv = NULL
cdef msg_close_f _msg_close = NULL
cdef msg_data_f _msg_data = NULL
cdef msg_size_f _msg_size = NULL
cdef send_f _send = NULL
cdef errno_f _errno = NULL


cdef uintptr_t _addr(object lib, str name) except 0:
    import ctypes
    cdef object fn = getattr(lib, name, None)
    if fn is None:
        raise ImportError(f"barfinex._fast.zsocket: pyzmq's libzmq has no {name}")
    return <uintptr_t>ctypes.cast(fn, ctypes.c_void_p).value


def _bind_libzmq() -> None:
    global _msg_init, _msg_recv, _msg_close, _msg_data, _msg_size, _send, _errno
    import ctypes
    if zmq.zmq_version_info()[0] != 4:
        raise ImportError(f"barfinex._fast.zsocket expects libzmq 4.x, pyzmq has {zmq.zmq_version()}")
    try:
        from zmq.backend.cython import _zmq
        lib = ctypes.CDLL(_zmq.__file__)
    except (ImportError, OSError) as exc:
        raise ImportError(f"barfinex._fast.zsocket needs pyzmq's Cython backend: {exc}") from None
    _msg_init = <msg_init_f>_addr(lib, "zmq_msg_init")
    _msg_recv = <msg_recv_f>_addr(lib, "zmq_msg_recv")
    _msg_close = <msg_close_f>_addr(lib, "zmq_msg_close")
    _msg_data = <msg_data_f>_addr(lib, "zmq_msg_data")
    _msg_size = <msg_size_f>_addr(lib, "zmq_msg_size")
    _send = <send_f>_addr(lib, "zmq_send")
    _errno = <errno_f>_addr(lib, "zmq_errno")


_bind_libzmq()


cdef int _raise(int err) except -1:
    if err == EAGAIN:
        raise zmq.Again()
    raise zmq.ZMQError(err)


cdef class NoWaitSocket:
    """One frame in or out of ``socket`` (a pyzmq Socket) without blocking.

    ``recv()`` returns the next frame as bytes, or None when nothing is
    queued; ``send(frame)`` queues one frame with ZMQ_DONTWAIT (a PUB socket
    drops at its high-water mark rather than block; other types raise
    zmq.Again when full). Both raise zmq.ZMQError(ENOTSOCK) once the socket
    is closed, like pyzmq, and any other libzmq error as zmq.ZMQError.
    """

    def __init__(self, socket):
        if socket.closed:
            raise zmq.ZMQError(zmq.ENOTSOCK)
        cdef uintptr_t handle = socket.underlying
        self._handle = <void*>handle
        self.socket = socket

    cpdef object recv(self):
        """The next frame (bytes), or None if none is queued."""
        if self.socket._closed:
            raise zmq.ZMQError(zmq.ENOTSOCK)
        return self.recv_c()

    cpdef int send(self, bytes frame) except -1:
        """Queue one frame; never blocks."""
        if self.socket._closed:
            raise zmq.ZMQError(zmq.ENOTSOCK)
        return self.send_c(frame)

    cdef object recv_c(self):
        cdef bfx_zmq_msg_t msg
        cdef int err
        _msg_init(&msg)
        if _msg_recv(&msg, self._handle, ZMQ_DONTWAIT_C) < 0:
            err = _errno()
            _msg_close(&msg)
            if err == EAGAIN:
                return None
            _raise(err)
        out = PyBytes_FromStringAndSize(<char*>_msg_data(&msg), <Py_ssize_t>_msg_size(&msg))
        _msg_close(&msg)
        return out

    cdef int send_c(self, bytes frame) except -1:
        if _send(self._handle, PyBytes_AS_STRING(frame), <size_t>PyBytes_GET_SIZE(frame), ZMQ_DONTWAIT_C) < 0:
            _raise(_errno())
        return 0
