/*
 * aerobackup.testing._emulator_speedups: the emulator's batch-write row parser in C (optional).
 *
 * parse_plain_rows(data, n_rows, plain_writes) is a fast path of
 * aerobackup.testing._streams._parse_rows_py for the rows a restore or a client's batch_write
 * sends: every row in the INFO|GEN|TTL form (flags 0x0E) with flags allowing a plain create, no
 * FILTER field, and ops that are plain WRITEs of values the server stores as sent. For such input
 * it returns exactly the rows the Python function returns (``plain_writes`` is the PlainWrites
 * class to build the ops with). For anything else, malformed input included, it returns None and
 * the caller runs the Python function, which is the reference: C never decides an error, so the
 * two cannot disagree on one. Every read is bounds-checked before it happens.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t rd_u32(const unsigned char *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}
static inline uint16_t rd_u16(const unsigned char *p) { return (uint16_t)(((uint16_t)p[0] << 8) | p[1]); }

/* Info2 WRITE | RESPOND_ALL_OPS | GENERATION_GT | CREATE_ONLY and Info3 CREATE_OR_REPLACE: the
 * flags _ops.plain_create_flags allows. */
#define FAST_INFO2 (0x01 | 0x80 | 0x08 | 0x20)
#define FAST_INFO3 0x10

/* Particle types stored as sent whatever their bytes (_msg._PLAIN). */
static inline int plain_ptype(unsigned t) {
    return t == 3 || t == 4 || (t >= 7 && t <= 12) || t == 16 || t == 18;
}

/* _msg._sorted_fixmap, accepting only when every byte it looks at lies inside [p, end): a small
 * map without flags header whose keys are ascending strings and whose values are scalars. */
static int sorted_fixmap(const unsigned char *buf, Py_ssize_t p, Py_ssize_t end) {
    if (p >= end) return 0;
    unsigned b = buf[p];
    if (b < 0x80 || b > 0x8F) return 0;
    p++;
    const unsigned char *prev = NULL;
    Py_ssize_t prev_len = 0;
    for (unsigned i = 0; i < (b & 0x0F); i++) {
        if (p + 1 >= end) return 0;
        unsigned k = buf[p];
        if (k < 0xA1 || k > 0xBF || buf[p + 1] != 3) return 0;
        Py_ssize_t key_len = k & 0x1F;
        if (p + 1 + key_len > end) return 0;
        const unsigned char *key = buf + p + 1;
        if (prev != NULL) { /* key < prev rejects (bytes order) */
            Py_ssize_t m = key_len < prev_len ? key_len : prev_len;
            int c = memcmp(key, prev, (size_t)m);
            if (c < 0 || (c == 0 && key_len < prev_len)) return 0;
        }
        prev = key;
        prev_len = key_len;
        p += 1 + key_len;
        if (p >= end) return 0;
        unsigned v = buf[p];
        if (v <= 0x7F || v >= 0xE0 || v == 0xC0 || v == 0xC2 || v == 0xC3) {
            p += 1;
        } else if (v == 0xCB) {
            p += 9;
        } else if (v >= 0xCC && v <= 0xD3) {
            p += 1 + (1 << ((v - 0xCC) & 3));
        } else if (v >= 0xA1 && v <= 0xBF) {
            if (p + 1 >= end || buf[p + 1] != 3) return 0;
            p += 1 + (v & 0x1F);
        } else {
            return 0;
        }
        if (p > end) return 0;
    }
    return p == end;
}

/* Names tuples already built in this call, reused when a row has the same bin names (the
 * emulator hashes the tuple per row; reusing the bytes objects reuses their cached hashes). */
#define NAME_CACHE 8

typedef struct {
    PyObject *tuples[NAME_CACHE];
    int used;
    int next;
} NameCache;

static PyObject *names_tuple(NameCache *cache, const unsigned char *buf, const Py_ssize_t *at,
                             const Py_ssize_t *len, Py_ssize_t n) {
    for (int c = 0; c < cache->used; c++) {
        PyObject *t = cache->tuples[c];
        if (PyTuple_GET_SIZE(t) != n) continue;
        Py_ssize_t i = 0;
        for (; i < n; i++) {
            PyObject *name = PyTuple_GET_ITEM(t, i);
            if (PyBytes_GET_SIZE(name) != len[i] || memcmp(PyBytes_AS_STRING(name), buf + at[i], (size_t)len[i]))
                break;
        }
        if (i == n) {
            Py_INCREF(t);
            return t;
        }
    }
    PyObject *t = PyTuple_New(n);
    if (t == NULL) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *name = PyBytes_FromStringAndSize((const char *)buf + at[i], len[i]);
        if (name == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, name);
    }
    int slot = cache->used < NAME_CACHE ? cache->used++ : cache->next++ % NAME_CACHE;
    Py_XDECREF(cache->tuples[slot]);
    Py_INCREF(t);
    cache->tuples[slot] = t;
    return t;
}

#define MAX_OPS 256 /* rows with more ops take the Python path */

/* The ops of one row, as _msg.parse_plain_writes: 1 with *ops set (a PlainWrites) and *pos
 * moved past them, 0 when the Python path must decide, -1 on a Python error. */
static int plain_ops(const unsigned char *buf, Py_ssize_t *pos, Py_ssize_t end, unsigned n_ops,
                     PyObject *plain_cls, NameCache *cache, PyObject **ops) {
    Py_ssize_t start = *pos, p = start;
    Py_ssize_t name_at[MAX_OPS], name_len[MAX_OPS];
    if (n_ops == 0 || n_ops > MAX_OPS) return 0;
    for (unsigned i = 0; i < n_ops; i++) {
        if (p + 8 > end) return 0;
        Py_ssize_t size = rd_u32(buf + p);
        unsigned op = buf[p + 4], ptype = buf[p + 5];
        unsigned nlen = rd_u16(buf + p + 6); /* flags and name length as one number */
        Py_ssize_t name_end = p + 8 + nlen, value_end = p + 4 + size;
        if (op != 2 || nlen > 15 || name_end > value_end || value_end > end) return 0;
        Py_ssize_t vlen = value_end - name_end;
        if (!plain_ptype(ptype)) {
            int ok = ((ptype == 1 || ptype == 2) && vlen == 8) || (ptype == 17 && vlen == 1);
            if (!ok && ptype == 20) /* a list without order flags */
                ok = vlen >= 3 && buf[name_end] >= 0x90 && buf[name_end] <= 0x9F &&
                     !(buf[name_end + 1] == 0xC7 && buf[name_end + 2] == 0x00);
            if (!ok && ptype == 19) ok = sorted_fixmap(buf, name_end, value_end);
            if (!ok) return 0; /* the Python path asks check_particle */
        }
        name_at[i] = p + 8;
        name_len[i] = (Py_ssize_t)nlen;
        p = value_end;
    }
    PyObject *wire = PyBytes_FromStringAndSize((const char *)buf + start, p - start);
    if (wire == NULL) return -1;
    unsigned char *w = (unsigned char *)PyBytes_AS_STRING(wire);
    for (unsigned i = 0; i < n_ops; i++) w[name_at[i] - 8 + 4 - start] = 1; /* WRITE -> READ */
    PyObject *names = names_tuple(cache, buf, name_at, name_len, (Py_ssize_t)n_ops);
    if (names == NULL) {
        Py_DECREF(wire);
        return -1;
    }
    *ops = PyObject_CallFunctionObjArgs(plain_cls, wire, names, NULL);
    Py_DECREF(wire);
    Py_DECREF(names);
    if (*ops == NULL) return -1;
    *pos = p;
    return 1;
}

/* A field value's bytes, reusing the object of the row before when the bytes are the same (the
 * namespace and set of every row of a restore batch). */
static PyObject *field_value(PyObject **last, const unsigned char *v, Py_ssize_t n) {
    PyObject *old = *last;
    if (old != NULL && PyBytes_GET_SIZE(old) == n && memcmp(PyBytes_AS_STRING(old), v, (size_t)n) == 0) {
        Py_INCREF(old);
        return old;
    }
    PyObject *b = PyBytes_FromStringAndSize((const char *)v, n);
    if (b == NULL) return NULL;
    Py_XDECREF(old);
    Py_INCREF(b);
    *last = b;
    return b;
}

static PyObject *parse_plain_rows(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 3 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "parse_plain_rows(data: bytes, n_rows: int, plain_writes: type)");
        return NULL;
    }
    const unsigned char *buf = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t end = PyBytes_GET_SIZE(args[0]);
    Py_ssize_t n_rows = PyLong_AsSsize_t(args[1]);
    if (n_rows < 0) {
        if (PyErr_Occurred()) return NULL;
        Py_RETURN_NONE;
    }
    PyObject *plain_cls = args[2];
    PyObject *rows = PyList_New(0);
    if (rows == NULL) return NULL;
    NameCache cache = {{NULL}, 0, 0};
    PyObject *last_value[256] = {NULL}; /* by field type */
    PyObject *prev_fields = NULL;      /* the dict of the row before, and its raw bytes */
    Py_ssize_t prev_at = 0, prev_len = -1;
    unsigned prev_nf = 0;
    int ok = 1; /* 0: the Python path decides; -1: a Python error */
    Py_ssize_t p = 5;
    for (Py_ssize_t r = 0; r < n_rows && ok; r++) {
        if (p + 25 + 13 > end || buf[p + 24] != 0x0E) {
            ok = 0;
            break;
        }
        const unsigned char *h = buf + p;
        uint32_t idx = rd_u32(h);
        const unsigned char *digest = h + 4;
        unsigned info1 = h[25], info2 = h[26], info3 = h[27];
        unsigned gen = rd_u16(h + 28);
        uint32_t ttl = rd_u32(h + 30);
        unsigned nf = rd_u16(h + 34), no = rd_u16(h + 36);
        p += 38;
        if (!(info2 & 0x01) || info1 || (info2 & ~FAST_INFO2) || (info3 & ~FAST_INFO3)) {
            ok = 0;
            break;
        }
        PyObject *fields;
        Py_ssize_t fstart = p;
        int has_filter = 0;
        for (unsigned f = 0; f < nf; f++) {
            if (p + 5 > end) {
                ok = 0;
                break;
            }
            Py_ssize_t size = rd_u32(buf + p);
            if (size < 1 || p + 4 + size > end) {
                ok = 0;
                break;
            }
            if (buf[p + 4] == 43) has_filter = 1;
            p += 4 + size;
        }
        if (!ok || has_filter) {
            ok = 0;
            break;
        }
        if (prev_fields != NULL && nf == prev_nf && p - fstart == prev_len &&
            memcmp(buf + fstart, buf + prev_at, (size_t)prev_len) == 0) {
            fields = prev_fields; /* the same fields as the row before: share its dict */
            Py_INCREF(fields);
        } else {
            fields = PyDict_New();
            if (fields == NULL) goto error;
            for (Py_ssize_t q = fstart; q < p;) {
                Py_ssize_t size = rd_u32(buf + q);
                unsigned type = buf[q + 4];
                PyObject *key = PyLong_FromLong((long)type);
                PyObject *value = key ? field_value(&last_value[type], buf + q + 5, size - 1) : NULL;
                int bad = key == NULL || value == NULL || PyDict_SetItem(fields, key, value) < 0;
                Py_XDECREF(key);
                Py_XDECREF(value);
                if (bad) {
                    Py_DECREF(fields);
                    goto error;
                }
                q += 4 + size;
            }
            Py_XDECREF(prev_fields);
            Py_INCREF(fields);
            prev_fields = fields;
            prev_at = fstart;
            prev_len = p - fstart;
            prev_nf = nf;
        }
        PyObject *ops = NULL;
        int got = plain_ops(buf, &p, end, no, plain_cls, &cache, &ops);
        if (got <= 0) {
            Py_DECREF(fields);
            if (got < 0) goto error;
            ok = 0;
            break;
        }
        PyObject *row = PyTuple_New(9);
        PyObject *items[7] = {PyLong_FromUnsignedLong(idx), PyBytes_FromStringAndSize((const char *)digest, 20),
                              PyLong_FromLong((long)info1), PyLong_FromLong((long)info2), PyLong_FromLong((long)info3),
                              PyLong_FromLong((long)gen), PyLong_FromUnsignedLong(ttl)};
        int missing = row == NULL;
        for (int i = 0; i < 7; i++) missing |= items[i] == NULL;
        if (missing) {
            for (int i = 0; i < 7; i++) Py_XDECREF(items[i]);
            Py_XDECREF(row);
            Py_DECREF(fields);
            Py_DECREF(ops);
            goto error;
        }
        for (int i = 0; i < 7; i++) PyTuple_SET_ITEM(row, i, items[i]);
        PyTuple_SET_ITEM(row, 7, fields);
        PyTuple_SET_ITEM(row, 8, ops);
        int bad = PyList_Append(rows, row) < 0;
        Py_DECREF(row);
        if (bad) goto error;
    }
    goto done;
error:
    ok = -1;
done:
    Py_XDECREF(prev_fields);
    for (int i = 0; i < 256; i++) Py_XDECREF(last_value[i]);
    for (int i = 0; i < cache.used; i++) Py_DECREF(cache.tuples[i]);
    if (ok == 1) return rows;
    Py_DECREF(rows);
    if (ok == 0) Py_RETURN_NONE;
    return NULL;
}

static PyMethodDef methods[] = {
    {"parse_plain_rows", (PyCFunction)(void (*)(void))parse_plain_rows, METH_FASTCALL,
     "parse_plain_rows(data, n_rows, plain_writes) -> list | None: the rows of "
     "aerobackup.testing._streams._parse_rows_py when all are plain creates, else None."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "aerobackup.testing._emulator_speedups",
    "The emulator's batch-write row parser in C; the pure-Python parser stays the reference.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__emulator_speedups(void) { return PyModule_Create(&module); }
