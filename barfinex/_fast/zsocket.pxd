# Contract of the non-blocking socket door (barfinex/_fast/zsocket.pyx).
#
# One frame in or out of a pyzmq socket without pyzmq's per-call Python
# overhead: recv returns None when nothing is queued (no zmq.Again raised),
# send never blocks. The socket stays owned by pyzmq; this only borrows its
# libzmq handle and checks it is still open before every call.

cdef class NoWaitSocket:
    cdef void* _handle                  # the libzmq socket (pyzmq's Socket.underlying)
    cdef readonly object socket         # the pyzmq Socket it borrows from (kept alive)

    cpdef object recv(self)             # bytes, or None when nothing is queued
    cpdef int send(self, bytes frame) except -1
    cdef object recv_c(self)            # unchecked: the caller knows the socket is open
    cdef int send_c(self, bytes frame) except -1
