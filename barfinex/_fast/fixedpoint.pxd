# Contract of decimal-string <-> int64 fixed-point conversion (the edge where
# exchange strings enter the hot path).
from libc.stdint cimport int64_t

# Unchecked door for other _fast modules: returns 0 and sets *ok = 0 on bad input.
cdef int64_t parse_fixed_c(const char* s, Py_ssize_t n, int prec, int* ok) noexcept nogil

cpdef int64_t parse_fixed(object text, int prec) except? -1
cpdef str format_fixed(int64_t value, int prec)
cpdef list parse_levels(object levels, int price_prec, int qty_prec)
