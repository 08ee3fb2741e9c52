/*
 * aerobackup._speedups: compiled inner loops of the hot path (optional).
 *
 * Each function here has a pure-Python twin that stays the reference (selected with
 * AEROBACKUP_PURE_PYTHON=1, see aerobackup.speedups). Contract: for the same inputs the output
 * is identical byte for byte, and so is every error. Errors are handled by delegation: when the
 * C loop meets anything it does not accept (malformed or truncated input, an unusual type, a
 * value out of range), it undoes what it appended and calls the Python reference on the same
 * arguments, which then raises (or, for an input that is merely unusual, succeeds) exactly as
 * the reference does. Every read is bounds-checked before it happens, so malformed input can
 * never read outside the buffer; tests/speedups fuzz these checks against the reference.
 *
 * Functions:
 *   parse_records(buf, pos, end, batch, state) -> int         aerobackup.wire.parse
 *   parse_write_results(buf, pos, end, results) -> (last, code)
 *                                                             aerobackup.wire.parse
 *   batch_write_request(batch, rows, ttls, flags, *, timeout_ms=0, names=None) -> bytes
 *                                                             aerobackup.wire.messages
 *   asb_encode_records(...)                                   aerobackup.plugins.codecs.asb_encode
 */

#define _GNU_SOURCE 1 /* strtod_l */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <math.h>
#include <limits.h>
#include <structmember.h>

/* ------------------------------------------------------------------------------------------ */
/* helpers                                                                                    */

static PyObject *s_namespace, *s_buffer, *s_sets, *s_digests, *s_keys, *s_generations,
    *s_void_times, *s_bin_index, *s_bin_names, *s_bin_types, *s_bin_starts, *s_bin_ends,
    *s_last, *s_result, *s_unavailable, *s_names, *s_set_len, *s_info2, *s_info3,
    *s_use_generation, *s_particle_type, *s_data, *s_empty;

static PyObject *user_key_type = NULL; /* aerobackup.model.UserKey, looked up once */

static inline uint32_t rd_u32(const unsigned char *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}
static inline uint16_t rd_u16(const unsigned char *p) {
    return (uint16_t)(((uint16_t)p[0] << 8) | p[1]);
}
static inline void wr_u32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8); p[3] = (unsigned char)v;
}
static inline void wr_u16(unsigned char *p, uint16_t v) {
    p[0] = (unsigned char)(v >> 8); p[1] = (unsigned char)v;
}

/* Call `module.name(*args, **kwargs)`: the pure-Python reference. */
static PyObject *call_reference(const char *module, const char *name, PyObject *args, PyObject *kwargs) {
    PyObject *mod = PyImport_ImportModule(module);
    if (mod == NULL) return NULL;
    PyObject *fn = PyObject_GetAttrString(mod, name);
    Py_DECREF(mod);
    if (fn == NULL) return NULL;
    PyObject *res = PyObject_Call(fn, args, kwargs);
    Py_DECREF(fn);
    return res;
}

/* Get an attribute that must be an exact list (borrowed-like: returns a new reference). */
static PyObject *get_list(PyObject *obj, PyObject *attr, int *unusual) {
    PyObject *v = PyObject_GetAttr(obj, attr);
    if (v == NULL) return NULL;
    if (!PyList_CheckExact(v)) { *unusual = 1; }
    return v;
}

/* Growable output buffer. */
typedef struct {
    unsigned char *p;
    Py_ssize_t len, cap;
} OutBuf;

static int ob_reserve(OutBuf *b, Py_ssize_t extra) {
    if (b->len + extra <= b->cap) return 0;
    Py_ssize_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) {
        if (cap > PY_SSIZE_T_MAX / 2) { PyErr_NoMemory(); return -1; }
        cap *= 2;
    }
    unsigned char *np = PyMem_Realloc(b->p, (size_t)cap);
    if (np == NULL) { PyErr_NoMemory(); return -1; }
    b->p = np;
    b->cap = cap;
    return 0;
}
static inline int ob_put(OutBuf *b, const void *src, Py_ssize_t n) {
    if (ob_reserve(b, n) < 0) return -1;
    memcpy(b->p + b->len, src, (size_t)n);
    b->len += n;
    return 0;
}


/* UserKey(particle_type, data) made the way asb_decode's Python fast path makes it: allocate the
   slots object and fill its two slots (a frozen dataclass's __init__ costs ~0.3 us; the object
   is equal, and untracked by the cyclic GC). Falls back to calling the class if it is not the expected slots class. */
static Py_ssize_t uk_off_type = -1, uk_off_data = -1;
static int uk_checked = 0;

static int user_key_setup(void) {
    if (user_key_type == NULL) {
        PyObject *m = PyImport_ImportModule("aerobackup.model");
        if (m == NULL) return -1;
        user_key_type = PyObject_GetAttrString(m, "UserKey");
        Py_DECREF(m);
        if (user_key_type == NULL) return -1;
    }
    if (!uk_checked) {
        uk_checked = 1;
        PyTypeObject *tp = (PyTypeObject *)user_key_type;
        if (!PyType_Check(user_key_type) || tp->tp_new != PyBaseObject_Type.tp_new) return 0;
        Py_ssize_t offs[2] = {-1, -1};
        const char *names[2] = {"particle_type", "data"};
        for (int i = 0; i < 2; i++) {
            PyObject *desc = PyObject_GetAttrString(user_key_type, names[i]);
            if (desc == NULL) { PyErr_Clear(); return 0; }
            if (Py_IS_TYPE(desc, &PyMemberDescr_Type) &&
                ((PyMemberDescrObject *)desc)->d_member->type == T_OBJECT_EX)
                offs[i] = ((PyMemberDescrObject *)desc)->d_member->offset;
            Py_DECREF(desc);
        }
        if (offs[0] > 0 && offs[1] > 0) { uk_off_type = offs[0]; uk_off_data = offs[1]; }
    }
    return 0;
}

/* A new UserKey; steals data. */
static PyObject *new_user_key(long type, PyObject *data) {
    if (data == NULL) return NULL;
    if (user_key_setup() < 0) { Py_DECREF(data); return NULL; }
    PyObject *t = PyLong_FromLong(type);
    if (t == NULL) { Py_DECREF(data); return NULL; }
    if (uk_off_type > 0) {
        PyTypeObject *tp = (PyTypeObject *)user_key_type;
        PyObject *k = tp->tp_alloc(tp, 0);
        if (k == NULL) { Py_DECREF(t); Py_DECREF(data); return NULL; }
        *(PyObject **)((char *)k + uk_off_type) = t;    /* steals t */
        *(PyObject **)((char *)k + uk_off_data) = data; /* steals data */
        /* An int and a bytes cannot form a cycle: leave the key out of the cyclic GC, as CPython
           does for tuples of atomic values. A restore holds a key per record of every batch in
           flight, and walking them was most of its garbage-collection time (gen1 passes). */
        PyObject_GC_UnTrack(k);
        return k;
    }
    PyObject *a[2] = {t, data};
    PyObject *k = PyObject_Vectorcall(user_key_type, a, 2, NULL);
    Py_DECREF(t);
    Py_DECREF(data);
    return k;
}

/* ------------------------------------------------------------------------------------------ */
/* parse_records                                                                              */

#define NAME_CACHE 64

typedef struct {
    PyObject *raw;  /* bytes (strong) */
    PyObject *name; /* str (strong) */
} NameSlot;

/* Decoded name for raw[0:n] via the state's names dict (Python: names.get(raw) or insert). */
static PyObject *lookup_name(PyObject *names, NameSlot *slot, const char *p, Py_ssize_t n) {
    if (slot != NULL && slot->raw != NULL && PyBytes_GET_SIZE(slot->raw) == n &&
        memcmp(PyBytes_AS_STRING(slot->raw), p, (size_t)n) == 0) {
        return slot->name; /* borrowed */
    }
    PyObject *raw = PyBytes_FromStringAndSize(p, n);
    if (raw == NULL) return NULL;
    PyObject *name = PyDict_GetItemWithError(names, raw);
    if (name == NULL) {
        if (PyErr_Occurred()) { Py_DECREF(raw); return NULL; }
        name = PyUnicode_DecodeUTF8(p, n, "surrogateescape");
        if (name == NULL) { Py_DECREF(raw); return NULL; }
        if (PyDict_SetItem(names, raw, name) < 0) { Py_DECREF(raw); Py_DECREF(name); return NULL; }
        Py_DECREF(name); /* the dict holds it */
    } else if (!PyUnicode_CheckExact(name)) {
        /* Python's `names_get(raw) or ...` treats a None cached value differently for set and
           bin names: leave such odd caches to the reference. */
        Py_DECREF(raw);
        PyErr_SetString(PyExc_LookupError, "unusual names cache");
        return NULL;
    }
    if (slot != NULL) {
        Py_INCREF(name);
        Py_XDECREF(slot->raw);
        Py_XDECREF(slot->name);
        slot->raw = raw;
        slot->name = name;
        return name; /* borrowed (slot holds it) */
    }
    /* No slot: the dict holds name; raw can go. */
    Py_DECREF(raw);
    return name;
}

enum { P_OK = 0, P_ERROR = -1, P_DELEGATE = -2 };

#define APPEND(list, obj)                                  \
    do {                                                   \
        PyObject *o_ = (obj);                              \
        if (o_ == NULL) goto error;                        \
        int r_ = PyList_Append((list), o_);                \
        Py_DECREF(o_);                                     \
        if (r_ < 0) goto error;                            \
    } while (0)

#define APPEND_BORROWED(list, obj)                         \
    do {                                                   \
        if (PyList_Append((list), (obj)) < 0) goto error;  \
    } while (0)

#define N_COLS 10

static PyObject *py_parse_records(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "parse_records() takes 5 positional arguments");
        return NULL;
    }
    PyObject *bufobj = args[0], *batch = args[3], *state = args[4];
    PyObject *cols[N_COLS] = {NULL};
    PyObject *unavailable = NULL, *names = NULL, *nsobj = NULL;
    Py_ssize_t col_len0[N_COLS];
    Py_ssize_t unavail_len0 = 0;
    NameSlot slots[NAME_CACHE];
    NameSlot set_slot = {NULL, NULL};
    memset(slots, 0, sizeof(slots));
    int status = P_DELEGATE;
    long added = 0;
    int unusual = 0;
    Py_ssize_t set_len0 = -1, set_len = -1;
    int last = 0;
    long result_code = 0;

    if (!PyBytes_CheckExact(bufobj) || !PyLong_CheckExact(args[1]) || !PyLong_CheckExact(args[2]))
        goto delegate_clean;
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    Py_ssize_t end = PyLong_AsSsize_t(args[2]);
    if ((pos == -1 || end == -1) && PyErr_Occurred()) { PyErr_Clear(); goto delegate_clean; }
    const unsigned char *buf = (const unsigned char *)PyBytes_AS_STRING(bufobj);
    const Py_ssize_t blen = PyBytes_GET_SIZE(bufobj);
    if (pos < 0 || end > blen) goto delegate_clean;

    static PyObject **col_names[N_COLS] = {&s_sets, &s_digests, &s_keys, &s_generations, &s_void_times,
                                           &s_bin_index, &s_bin_names, &s_bin_types, &s_bin_starts,
                                           &s_bin_ends};
    for (int c = 0; c < N_COLS; c++) {
        cols[c] = get_list(batch, *col_names[c], &unusual);
        if (cols[c] == NULL) { PyErr_Clear(); goto delegate_clean; }
        if (unusual) goto delegate_clean;
        col_len0[c] = PyList_GET_SIZE(cols[c]);
    }
    PyObject *sets = cols[0], *digests = cols[1], *keys = cols[2], *gens = cols[3], *voids = cols[4],
             *bindex = cols[5], *bnames = cols[6], *btypes = cols[7], *bstarts = cols[8], *bends = cols[9];

    nsobj = PyObject_GetAttr(batch, s_namespace);
    if (nsobj == NULL || !PyUnicode_Check(nsobj)) { PyErr_Clear(); goto delegate_clean; }
    {
        /* Python computes len(namespace.encode()) and fails on an unencodable name. */
        Py_ssize_t ns_len;
        if (PyUnicode_AsUTF8AndSize(nsobj, &ns_len) == NULL) { PyErr_Clear(); goto delegate_clean; }
    }
    unavailable = PyObject_GetAttr(state, s_unavailable);
    names = PyObject_GetAttr(state, s_names);
    if (unavailable == NULL || names == NULL) { PyErr_Clear(); goto delegate_clean; }
    if (!PyList_CheckExact(unavailable) || !PyDict_CheckExact(names)) goto delegate_clean;
    unavail_len0 = PyList_GET_SIZE(unavailable);
    {
        PyObject *sl = PyObject_GetAttr(state, s_set_len);
        if (sl == NULL) { PyErr_Clear(); goto delegate_clean; }
        if (!PyLong_CheckExact(sl)) { Py_DECREF(sl); goto delegate_clean; }
        set_len0 = set_len = PyLong_AsSsize_t(sl);
        Py_DECREF(sl);
        if (set_len == -1 && PyErr_Occurred()) { PyErr_Clear(); set_len0 = -1; goto delegate_clean; }
    }
    Py_ssize_t n_bins;
    {
        Py_ssize_t ni = PyList_GET_SIZE(bindex);
        if (ni == 0) goto delegate_clean;
        PyObject *lastidx = PyList_GET_ITEM(bindex, ni - 1);
        if (!PyLong_CheckExact(lastidx)) goto delegate_clean;
        n_bins = PyLong_AsSsize_t(lastidx);
        if (n_bins == -1 && PyErr_Occurred()) { PyErr_Clear(); goto delegate_clean; }
    }

    while (pos < end) {
        /* AS_MSG header: 22 bytes (Python: MSG_HEADER.unpack_from(buf, pos)). */
        if (pos + 22 > blen) goto delegate;
        const unsigned char *h = buf + pos;
        unsigned info3 = h[3], result = h[5];
        uint32_t generation = rd_u32(h + 6), void_time = rd_u32(h + 10);
        unsigned n_fields = rd_u16(h + 18), n_ops = rd_u16(h + 20);
        pos += 22;
        if (info3 || result) {
            if (info3 & 0x04) { /* partition marker */
                if (result) APPEND(unavailable, PyLong_FromUnsignedLong(generation));
                for (unsigned k = 0; k < n_fields + n_ops; k++) {
                    if (pos + 5 > blen) goto delegate;
                    pos += 4 + (Py_ssize_t)rd_u32(buf + pos);
                }
                continue;
            }
            result_code = (long)result;
            last = 1;
            status = P_OK;
            goto done;
        }
        const unsigned char *digest = NULL;
        Py_ssize_t digest_len = 0;
        PyObject *set_name = NULL; /* borrowed */
        PyObject *key = NULL;      /* strong */
        for (unsigned k = 0; k < n_fields; k++) {
            if (pos + 5 > blen) goto delegate;
            uint32_t size = rd_u32(buf + pos);
            unsigned ftype = buf[pos + 4];
            Py_ssize_t start = pos + 5;
            pos += 4 + (Py_ssize_t)size;
            if (pos > blen) { Py_XDECREF(key); goto delegate; }
            if (ftype == 2) { /* KEY: particle type byte then data */
                if (start >= blen) { Py_XDECREF(key); goto delegate; }
                Py_ssize_t dlen = pos - (start + 1);
                if (dlen < 0) dlen = 0;
                PyObject *nk = new_user_key(buf[start], PyBytes_FromStringAndSize((const char *)buf + start + 1, dlen));
                Py_XDECREF(key);
                key = nk;
                if (key == NULL) goto error;
            } else if (ftype == 1) { /* SET */
                Py_ssize_t slen = pos - start;
                if (slen < 0) slen = 0;
                set_name = lookup_name(names, &set_slot, (const char *)buf + (slen ? start : 0), slen);
                if (set_name == NULL) { Py_XDECREF(key); goto error_or_delegate; }
                set_len = slen;
            } else if (ftype == 4) { /* DIGEST */
                digest = buf + start;
                digest_len = pos - start;
                if (digest_len < 0) digest_len = 0;
            }
        }
        if (digest_len != 20) { Py_XDECREF(key); goto delegate; }
        for (unsigned k = 0; k < n_ops; k++) {
            if (pos + 8 > blen) { Py_XDECREF(key); goto delegate; }
            uint32_t size = rd_u32(buf + pos);
            unsigned ptype = buf[pos + 5], name_len = buf[pos + 7];
            Py_ssize_t name_at = pos + 8;
            Py_ssize_t value_at = name_at + name_len;
            pos += 4 + (Py_ssize_t)size;
            if (value_at > pos || pos > blen) { Py_XDECREF(key); goto delegate; }
            PyObject *name = lookup_name(names, k < NAME_CACHE ? &slots[k] : NULL, (const char *)buf + name_at,
                                         name_len);
            if (name == NULL) { Py_XDECREF(key); goto error_or_delegate; }
            if (PyList_Append(bnames, name) < 0) { Py_XDECREF(key); goto error; }
            PyObject *o;
            o = PyLong_FromLong((long)ptype);
            if (o == NULL || PyList_Append(btypes, o) < 0) { Py_XDECREF(o); Py_XDECREF(key); goto error; }
            Py_DECREF(o);
            o = PyLong_FromSsize_t(value_at);
            if (o == NULL || PyList_Append(bstarts, o) < 0) { Py_XDECREF(o); Py_XDECREF(key); goto error; }
            Py_DECREF(o);
            o = PyLong_FromSsize_t(pos);
            if (o == NULL || PyList_Append(bends, o) < 0) { Py_XDECREF(o); Py_XDECREF(key); goto error; }
            Py_DECREF(o);
        }
        n_bins += n_ops;
        if (set_name == NULL) {
            set_name = s_empty; /* Python's literal "": not put in the names cache */
        }
        if (PyList_Append(sets, set_name) < 0) { Py_XDECREF(key); goto error; }
        {
            PyObject *d = PyBytes_FromStringAndSize((const char *)digest, 20);
            if (d == NULL || PyList_Append(digests, d) < 0) { Py_XDECREF(d); Py_XDECREF(key); goto error; }
            Py_DECREF(d);
        }
        if (key == NULL) {
            APPEND_BORROWED(keys, Py_None);
        } else {
            int r = PyList_Append(keys, key);
            Py_DECREF(key);
            if (r < 0) goto error;
        }
        APPEND(gens, PyLong_FromUnsignedLong(generation));
        APPEND(voids, PyLong_FromUnsignedLong(void_time));
        APPEND(bindex, PyLong_FromSsize_t(n_bins));
        added++;
    }
    if (pos != end) goto delegate;
    status = P_OK;

done:
    if (set_len != set_len0) {
        PyObject *sl = PyLong_FromSsize_t(set_len);
        if (sl == NULL || PyObject_SetAttr(state, s_set_len, sl) < 0) { Py_XDECREF(sl); goto error; }
        Py_DECREF(sl);
    }
    if (last) {
        PyObject *rc = PyLong_FromLong(result_code);
        if (rc == NULL || PyObject_SetAttr(state, s_result, rc) < 0) { Py_XDECREF(rc); goto error; }
        Py_DECREF(rc);
        if (PyObject_SetAttr(state, s_last, Py_True) < 0) goto error;
    }
    goto cleanup;

error_or_delegate:
    /* A names cache the fast loop does not handle: the reference decides. Real errors (memory)
       propagate. */
    if (PyErr_ExceptionMatches(PyExc_MemoryError)) goto error;
    PyErr_Clear();
    goto delegate;

error:
    status = P_ERROR;
    /* fall through to undo */
delegate:
    /* Undo every append, then (for delegation) let the reference parse the same input. */
    for (int c = 0; c < N_COLS; c++) {
        if (cols[c] != NULL && PyList_GET_SIZE(cols[c]) > col_len0[c]) {
            PyObject *exc_t, *exc_v, *exc_tb;
            PyErr_Fetch(&exc_t, &exc_v, &exc_tb);
            PyList_SetSlice(cols[c], col_len0[c], PyList_GET_SIZE(cols[c]), NULL);
            PyErr_Restore(exc_t, exc_v, exc_tb);
        }
    }
    if (unavailable != NULL && PyList_GET_SIZE(unavailable) > unavail_len0) {
        PyObject *exc_t, *exc_v, *exc_tb;
        PyErr_Fetch(&exc_t, &exc_v, &exc_tb);
        PyList_SetSlice(unavailable, unavail_len0, PyList_GET_SIZE(unavailable), NULL);
        PyErr_Restore(exc_t, exc_v, exc_tb);
    }
    if (status == P_ERROR) goto cleanup;
    /* fall through */
delegate_clean:
    status = P_DELEGATE;

cleanup:
    for (int c = 0; c < N_COLS; c++) Py_XDECREF(cols[c]);
    Py_XDECREF(unavailable);
    Py_XDECREF(names);
    Py_XDECREF(nsobj);
    for (int k = 0; k < NAME_CACHE; k++) {
        Py_XDECREF(slots[k].raw);
        Py_XDECREF(slots[k].name);
    }
    Py_XDECREF(set_slot.raw);
    Py_XDECREF(set_slot.name);
    if (status == P_OK) return PyLong_FromLong(added);
    if (status == P_ERROR) return NULL;
    {
        PyObject *targs = PyTuple_New(5);
        if (targs == NULL) return NULL;
        for (int i = 0; i < 5; i++) { Py_INCREF(args[i]); PyTuple_SET_ITEM(targs, i, args[i]); }
        PyObject *res = call_reference("aerobackup.wire.parse", "parse_records_py", targs, NULL);
        Py_DECREF(targs);
        return res;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* parse_write_results                                                                        */

/* Row replies of a batch write into results[row] = code, as aerobackup.wire.parse does. A message
   this loop does not take as usual (a header, field or op past `end`, a row outside the batch)
   is handed with the rest of the buffer to the Python function at that message's offset: the
   results written so far are the ones Python writes, so the outcome, errors included, is its. */
static PyObject *py_parse_write_results(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 4 || !PyBytes_Check(args[0]) || !PyList_Check(args[3])) goto reference_at_start;
    const unsigned char *buf = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t len = PyBytes_GET_SIZE(args[0]);
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]), end = PyLong_AsSsize_t(args[2]);
    if (pos == -1 || end == -1) {
        if (PyErr_Occurred()) PyErr_Clear();
        goto reference_at_start;
    }
    if (pos < 0 || end > len) goto reference_at_start;
    PyObject *results = args[3];
    Py_ssize_t n_rows = PyList_GET_SIZE(results);
    while (pos < end) {
        if (pos + 22 > end) goto reference_at_pos;
        const unsigned char *h = buf + pos;
        unsigned info3 = h[3], result = h[5];
        uint32_t row = rd_u32(h + 14);
        unsigned n = (unsigned)rd_u16(h + 18) + rd_u16(h + 20);
        Py_ssize_t q = pos + 22;
        for (unsigned i = 0; i < n; i++) {
            if (q + 4 > end) goto reference_at_pos;
            Py_ssize_t size = rd_u32(buf + q);
            if (size > end - q - 4) goto reference_at_pos;
            q += 4 + size;
        }
        if (info3 & 0x01) return Py_BuildValue("(Ol)", Py_True, (long)result);
        if ((Py_ssize_t)row >= n_rows) goto reference_at_pos;
        PyObject *code = PyLong_FromLong((long)result);
        if (code == NULL) return NULL;
        PyObject *old = PyList_GET_ITEM(results, row);
        PyList_SET_ITEM(results, row, code);
        Py_DECREF(old);
        pos = q;
    }
    return Py_BuildValue("(Oi)", Py_False, 0);
reference_at_pos:
    {
        PyObject *at = PyLong_FromSsize_t(pos);
        if (at == NULL) return NULL;
        PyObject *targs = Py_BuildValue("(ONOO)", args[0], at, args[2], args[3]);
        if (targs == NULL) return NULL;
        PyObject *res = call_reference("aerobackup.wire.parse", "parse_write_results_py", targs, NULL);
        Py_DECREF(targs);
        return res;
    }
reference_at_start:
    {
        PyObject *targs = PyTuple_New(nargs);
        if (targs == NULL) return NULL;
        for (Py_ssize_t i = 0; i < nargs; i++) { Py_INCREF(args[i]); PyTuple_SET_ITEM(targs, i, args[i]); }
        PyObject *res = call_reference("aerobackup.wire.parse", "parse_write_results_py", targs, NULL);
        Py_DECREF(targs);
        return res;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* batch_write_request                                                                        */

/* An exact int in [lo, hi], or -1 (delegate). */
static int small_int(PyObject *o, long long lo, long long hi, long long *out) {
    if (!PyLong_CheckExact(o)) return -1;
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow || (v == -1 && PyErr_Occurred())) { PyErr_Clear(); return -1; }
    if (v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* An exact int, masked like Python's `v & mask` (two's complement), or -1 (delegate). */
static int masked_int(PyObject *o, unsigned long long mask, unsigned long long *out) {
    if (!PyLong_CheckExact(o)) return -1;
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow || (v == -1 && PyErr_Occurred())) { PyErr_Clear(); return -1; }
    *out = (unsigned long long)v & mask;
    return 0;
}

#define BW_COLS 9

static PyObject *py_batch_write_request(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static char *kwlist[] = {"batch", "rows", "ttls", "flags", "timeout_ms", "names", NULL};
    PyObject *batch, *rows, *ttls, *flags, *timeout_obj = NULL, *names_arg = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOO|$OO:batch_write_request", kwlist, &batch, &rows,
                                     &ttls, &flags, &timeout_obj, &names_arg))
        return NULL;
    PyObject *cols[BW_COLS] = {NULL};
    PyObject *names = NULL, *rows_fast = NULL, *bufobj = NULL, *nsobj = NULL;
    PyObject *set_obj = NULL, *set_raw = NULL; /* last set name and its encoding (strong) */
    PyObject *slot_name[NAME_CACHE] = {NULL};  /* borrowed identities */
    PyObject *slot_raw[NAME_CACHE] = {NULL};   /* strong */
    Py_buffer view;
    int have_view = 0;
    OutBuf out = {NULL, 0, 0};
    PyObject *result = NULL;
    int delegate = 1;

    static PyObject **col_names[BW_COLS] = {&s_sets, &s_digests, &s_keys, &s_generations, &s_bin_index,
                                            &s_bin_names, &s_bin_types, &s_bin_starts, &s_bin_ends};
    long long timeout_ms = 0, info2, info3;
    if (timeout_obj != NULL && small_int(timeout_obj, 0, 0xFFFFFFFFLL, &timeout_ms) < 0) goto finish;
    if (names_arg == Py_None) {
        names = PyDict_New();
        if (names == NULL) { delegate = 0; goto finish; }
    } else {
        if (!PyDict_CheckExact(names_arg)) goto finish;
        names = names_arg;
        Py_INCREF(names);
    }
    bufobj = PyObject_GetAttr(batch, s_buffer);
    if (bufobj == NULL) { PyErr_Clear(); goto finish; }
    if (!PyBytes_CheckExact(bufobj) && !PyByteArray_CheckExact(bufobj)) goto finish;
    if (PyObject_GetBuffer(bufobj, &view, PyBUF_SIMPLE) < 0) { PyErr_Clear(); goto finish; }
    have_view = 1;
    const unsigned char *buf = (const unsigned char *)view.buf;
    const Py_ssize_t blen = view.len;
    for (int c = 0; c < BW_COLS; c++) {
        cols[c] = PyObject_GetAttr(batch, *col_names[c]);
        if (cols[c] == NULL) { PyErr_Clear(); goto finish; }
        if (!PyList_CheckExact(cols[c])) goto finish;
    }
    PyObject *sets = cols[0], *digests = cols[1], *keys = cols[2], *gens = cols[3], *bindex = cols[4],
             *bnames = cols[5], *btypes = cols[6], *bstarts = cols[7], *bends = cols[8];
    nsobj = PyObject_GetAttr(batch, s_namespace);
    if (nsobj == NULL) { PyErr_Clear(); goto finish; }
    if (!PyUnicode_Check(nsobj)) goto finish;
    Py_ssize_t ns_len;
    const char *ns = PyUnicode_AsUTF8AndSize(nsobj, &ns_len);
    if (ns == NULL) { PyErr_Clear(); goto finish; }
    {
        PyObject *o = PyObject_GetAttr(flags, s_info2);
        if (o == NULL) { PyErr_Clear(); goto finish; }
        int bad = small_int(o, 0, 255, &info2);
        Py_DECREF(o);
        if (bad) goto finish;
        o = PyObject_GetAttr(flags, s_info3);
        if (o == NULL) { PyErr_Clear(); goto finish; }
        bad = small_int(o, 0, 255, &info3);
        Py_DECREF(o);
        if (bad) goto finish;
    }
    int use_gen;
    {
        PyObject *o = PyObject_GetAttr(flags, s_use_generation);
        if (o == NULL) { PyErr_Clear(); goto finish; }
        use_gen = PyObject_IsTrue(o);
        Py_DECREF(o);
        if (use_gen < 0) { PyErr_Clear(); goto finish; }
    }
    if (!PyList_CheckExact(ttls) && !PyTuple_CheckExact(ttls)) goto finish;
    if (!PyList_CheckExact(rows) && !PyTuple_CheckExact(rows) && !PyRange_Check(rows)) goto finish;
    rows_fast = PySequence_Fast(rows, "rows");
    if (rows_fast == NULL) { PyErr_Clear(); goto finish; }
    Py_ssize_t n_rows = PySequence_Fast_GET_SIZE(rows_fast);
    if ((unsigned long long)n_rows > 0xFFFFFFFFULL) goto finish;
    PyObject **row_items = PySequence_Fast_ITEMS(rows_fast);
    Py_ssize_t n_recs = PyList_GET_SIZE(digests);
    Py_ssize_t n_ttls = PySequence_Fast_GET_SIZE(ttls);
    PyObject **ttl_items = PySequence_Fast_ITEMS(ttls);
    Py_ssize_t n_bin_rows = PyList_GET_SIZE(bnames);
    if (PyList_GET_SIZE(btypes) < n_bin_rows) n_bin_rows = PyList_GET_SIZE(btypes);
    if (PyList_GET_SIZE(bstarts) < n_bin_rows) n_bin_rows = PyList_GET_SIZE(bstarts);
    if (PyList_GET_SIZE(bends) < n_bin_rows) n_bin_rows = PyList_GET_SIZE(bends);
    if (PyList_GET_SIZE(sets) < n_recs) n_recs = PyList_GET_SIZE(sets);
    if (PyList_GET_SIZE(keys) < n_recs) n_recs = PyList_GET_SIZE(keys);
    if (use_gen && PyList_GET_SIZE(gens) < n_recs) n_recs = PyList_GET_SIZE(gens);
    if (n_ttls < n_recs) n_recs = n_ttls;
    if (PyList_GET_SIZE(bindex) - 1 < n_recs) n_recs = PyList_GET_SIZE(bindex) - 1;

    if (ob_reserve(&out, 64 + n_rows * 160) < 0) { delegate = 0; goto finish; }
    memset(out.p, 0, 35);
    out.len = 35;
    {
        unsigned char hd[5];
        wr_u32(hd, (uint32_t)n_rows);
        hd[4] = 0x08 | 0x04 | 0x01; /* report errors per row, respond for every row, allow inline */
        if (ob_put(&out, hd, 5) < 0) { delegate = 0; goto finish; }
    }
    for (Py_ssize_t r = 0; r < n_rows; r++) {
        long long ll;
        if (small_int(row_items[r], 0, (long long)n_recs - 1, &ll) < 0) goto finish;
        Py_ssize_t i = (Py_ssize_t)ll;
        long long lo, hi;
        if (small_int(PyList_GET_ITEM(bindex, i), 0, n_bin_rows, &lo) < 0) goto finish;
        if (small_int(PyList_GET_ITEM(bindex, i + 1), lo, n_bin_rows, &hi) < 0) goto finish;
        if (hi - lo > 0xFFFF) goto finish;
        PyObject *key = PyList_GET_ITEM(keys, i);
        PyObject *set_name = PyList_GET_ITEM(sets, i);
        if (!PyUnicode_CheckExact(set_name)) goto finish;
        if (set_name != set_obj) {
            PyObject *raw = PyUnicode_AsEncodedString(set_name, "utf-8", "surrogateescape");
            if (raw == NULL) { PyErr_Clear(); goto finish; }
            if ((unsigned long long)PyBytes_GET_SIZE(raw) >= 0xFFFFFFFFULL) { Py_DECREF(raw); goto finish; }
            Py_XDECREF(set_raw);
            Py_XDECREF(set_obj);
            set_raw = raw;
            set_obj = set_name;
            Py_INCREF(set_obj);
        }
        PyObject *digest = PyList_GET_ITEM(digests, i);
        if (!PyBytes_CheckExact(digest) || PyBytes_GET_SIZE(digest) != 20) goto finish;
        unsigned long long gen = 0, ttl;
        if (use_gen && masked_int(PyList_GET_ITEM(gens, i), 0xFFFF, &gen) < 0) goto finish;
        if (masked_int(ttl_items[i], 0xFFFFFFFFULL, &ttl) < 0) goto finish;
        long long key_type = 0;
        PyObject *key_data = NULL; /* strong */
        if (key != Py_None) {
            PyObject *kt = PyObject_GetAttr(key, s_particle_type);
            if (kt == NULL) { PyErr_Clear(); goto finish; }
            int bad = small_int(kt, 0, 255, &key_type);
            Py_DECREF(kt);
            if (bad) goto finish;
            key_data = PyObject_GetAttr(key, s_data);
            if (key_data == NULL) { PyErr_Clear(); goto finish; }
            if (!PyBytes_CheckExact(key_data) ||
                (unsigned long long)PyBytes_GET_SIZE(key_data) > 0xFFFFFFFFULL - 2) {
                Py_DECREF(key_data);
                goto finish;
            }
        }
        Py_ssize_t ns_size = ns_len, set_size = PyBytes_GET_SIZE(set_raw);
        if (ob_reserve(&out, 22 + 20 + 10 + ns_size + set_size + (key_data ? 6 + PyBytes_GET_SIZE(key_data) : 0))
            < 0) {
            Py_XDECREF(key_data);
            delegate = 0;
            goto finish;
        }
        unsigned char *p = out.p + out.len;
        wr_u32(p, (uint32_t)r);
        memcpy(p + 4, PyBytes_AS_STRING(digest), 20);
        p[24] = 0x02 | 0x04 | 0x08; /* INFO | GEN | TTL */
        p[25] = 0;
        p[26] = (unsigned char)info2;
        p[27] = (unsigned char)info3;
        wr_u16(p + 28, (uint16_t)gen);
        wr_u32(p + 30, (uint32_t)ttl);
        wr_u16(p + 34, key_data ? 3 : 2);
        wr_u16(p + 36, (uint16_t)(hi - lo));
        p += 38;
        wr_u32(p, (uint32_t)(ns_size + 1));
        p[4] = 0; /* NAMESPACE */
        memcpy(p + 5, ns, (size_t)ns_size);
        p += 5 + ns_size;
        wr_u32(p, (uint32_t)(set_size + 1));
        p[4] = 1; /* SET */
        memcpy(p + 5, PyBytes_AS_STRING(set_raw), (size_t)set_size);
        p += 5 + set_size;
        if (key_data != NULL) {
            Py_ssize_t kl = PyBytes_GET_SIZE(key_data);
            wr_u32(p, (uint32_t)(kl + 2));
            p[4] = 2; /* KEY */
            p[5] = (unsigned char)key_type;
            memcpy(p + 6, PyBytes_AS_STRING(key_data), (size_t)kl);
            p += 6 + kl;
            Py_DECREF(key_data);
        }
        out.len = p - out.p;
        for (Py_ssize_t j = lo; j < hi; j++) {
            PyObject *name = PyList_GET_ITEM(bnames, j);
            Py_ssize_t k = j - lo;
            PyObject *raw;
            if (k < NAME_CACHE && slot_name[k] == name) {
                raw = slot_raw[k];
            } else {
                if (!PyUnicode_CheckExact(name)) goto finish;
                raw = PyDict_GetItemWithError(names, name);
                if (raw == NULL) {
                    if (PyErr_Occurred()) { PyErr_Clear(); goto finish; }
                    raw = PyUnicode_AsEncodedString(name, "utf-8", "surrogateescape");
                    if (raw == NULL) { PyErr_Clear(); goto finish; }
                    int rc = PyDict_SetItem(names, name, raw);
                    Py_DECREF(raw);
                    if (rc < 0) { delegate = 0; goto finish; }
                }
                if (!PyBytes_CheckExact(raw)) goto finish;
                if (k < NAME_CACHE) {
                    Py_INCREF(raw);
                    Py_XDECREF(slot_raw[k]);
                    slot_raw[k] = raw;
                    slot_name[k] = name; /* identity only; the list keeps it alive */
                }
            }
            Py_ssize_t name_len = PyBytes_GET_SIZE(raw);
            if (name_len > 255) goto finish;
            long long ptype, s, e;
            if (small_int(PyList_GET_ITEM(btypes, j), 0, 255, &ptype) < 0) goto finish;
            if (small_int(PyList_GET_ITEM(bstarts, j), 0, blen, &s) < 0) goto finish;
            if (small_int(PyList_GET_ITEM(bends, j), s, blen, &e) < 0) goto finish;
            unsigned long long op_size = 4ULL + (unsigned long long)name_len + (unsigned long long)(e - s);
            if (op_size > 0xFFFFFFFFULL) goto finish;
            if (ob_reserve(&out, 8 + name_len + (e - s)) < 0) { delegate = 0; goto finish; }
            unsigned char *q = out.p + out.len;
            wr_u32(q, (uint32_t)op_size);
            q[4] = 2; /* WRITE */
            q[5] = (unsigned char)ptype;
            q[6] = 0;
            q[7] = (unsigned char)name_len;
            memcpy(q + 8, PyBytes_AS_STRING(raw), (size_t)name_len);
            memcpy(q + 8 + name_len, buf + s, (size_t)(e - s));
            out.len += 8 + name_len + (e - s);
        }
    }
    {
        unsigned long long size = (unsigned long long)out.len - 8;
        unsigned long long fsize = (unsigned long long)out.len - 35 + 1;
        if (fsize > 0xFFFFFFFFULL || size >= (1ULL << 48)) goto finish;
        unsigned long long proto = (2ULL << 56) | (3ULL << 48) | size;
        for (int b = 0; b < 8; b++) out.p[b] = (unsigned char)(proto >> (56 - 8 * b));
        unsigned char *h = out.p + 8;
        h[0] = 22;
        h[1] = 0x08; /* Info1.BATCH */
        memset(h + 2, 0, 12);
        wr_u32(h + 14, (uint32_t)timeout_ms);
        wr_u16(h + 18, 1);
        wr_u16(h + 20, 0);
        wr_u32(out.p + 30, (uint32_t)fsize);
        out.p[34] = 41; /* BATCH_INDEX */
    }
    result = PyBytes_FromStringAndSize((const char *)out.p, out.len);
    delegate = 0;

finish:
    if (have_view) PyBuffer_Release(&view);
    for (int c = 0; c < BW_COLS; c++) Py_XDECREF(cols[c]);
    for (int k = 0; k < NAME_CACHE; k++) Py_XDECREF(slot_raw[k]);
    Py_XDECREF(names);
    Py_XDECREF(rows_fast);
    Py_XDECREF(bufobj);
    Py_XDECREF(nsobj);
    Py_XDECREF(set_obj);
    Py_XDECREF(set_raw);
    PyMem_Free(out.p);
    if (!delegate) return result;
    return call_reference("aerobackup.wire.messages", "batch_write_request_py", args, kwargs);
}

/* ------------------------------------------------------------------------------------------ */
/* ASB record encoding (aerobackup.plugins.codecs.asb_encode.encode_batch)                    */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static inline Py_ssize_t b64_len(Py_ssize_t n) { return ((n + 2) / 3) * 4; }

/* Standard base64 with padding (binascii.b2a_base64(data, newline=False)). */
static unsigned char *b64_put(unsigned char *o, const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = ((uint32_t)s[i] << 16) | ((uint32_t)s[i + 1] << 8) | s[i + 2];
        o[0] = (unsigned char)B64[v >> 18]; o[1] = (unsigned char)B64[(v >> 12) & 63];
        o[2] = (unsigned char)B64[(v >> 6) & 63]; o[3] = (unsigned char)B64[v & 63];
        o += 4;
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)s[i] << 16;
        o[0] = (unsigned char)B64[v >> 18]; o[1] = (unsigned char)B64[(v >> 12) & 63]; o[2] = '='; o[3] = '=';
        o += 4;
    } else if (n - i == 2) {
        uint32_t v = ((uint32_t)s[i] << 16) | ((uint32_t)s[i + 1] << 8);
        o[0] = (unsigned char)B64[v >> 18]; o[1] = (unsigned char)B64[(v >> 12) & 63];
        o[2] = (unsigned char)B64[(v >> 6) & 63]; o[3] = '=';
        o += 4;
    }
    return o;
}

/* Decimal of a signed 64-bit value; returns the end. */
static unsigned char *dec_put(unsigned char *o, long long v) {
    char tmp[24];
    int n = 0;
    unsigned long long u = v < 0 ? (unsigned long long)0 - (unsigned long long)v : (unsigned long long)v;
    do { tmp[n++] = (char)('0' + u % 10); u /= 10; } while (u);
    if (v < 0) *o++ = '-';
    while (n) *o++ = (unsigned char)tmp[--n];
    return o;
}

static int ob_dec(OutBuf *b, long long v) {
    if (ob_reserve(b, 21) < 0) return -1;
    b->len = dec_put(b->p + b->len, v) - b->p;
    return 0;
}

static int ob_str(OutBuf *b, const char *s) { return ob_put(b, s, (Py_ssize_t)strlen(s)); }

/* Python's b"%.17g" % v (and format_double's nan/-nan by sign bit). */
static int ob_double(OutBuf *b, double v) {
    if (v != v) return ob_str(b, signbit(v) ? "-nan" : "nan");
    char *s = PyOS_double_to_string(v, 'g', 17, 0, NULL);
    if (s == NULL) return -1;
    int r = ob_str(b, s);
    PyMem_Free(s);
    return r;
}

static double rd_double(const unsigned char *p) {
    uint64_t u = ((uint64_t)rd_u32(p) << 32) | rd_u32(p + 4);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* Signed big-endian integer of n <= 8 bytes (int.from_bytes(..., signed=True)). */
static long long rd_signed(const unsigned char *p, Py_ssize_t n) {
    if (n == 0) return 0;
    uint64_t u = 0;
    for (Py_ssize_t i = 0; i < n; i++) u = (u << 8) | p[i];
    if (n < 8 && (p[0] & 0x80)) u |= ~(uint64_t)0 << (8 * n);
    return (long long)u;
}

/* escape(name.encode("utf-8", "surrogateescape")): backslash before \, space, newline. */
static PyObject *escaped_name(PyObject *name) {
    PyObject *raw = PyUnicode_AsEncodedString(name, "utf-8", "surrogateescape");
    if (raw == NULL) return NULL;
    const char *s = PyBytes_AS_STRING(raw);
    Py_ssize_t n = PyBytes_GET_SIZE(raw), extra = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (s[i] == '\\' || s[i] == ' ' || s[i] == '\n') extra++;
    if (!extra) return raw;
    PyObject *out = PyBytes_FromStringAndSize(NULL, n + extra);
    if (out == NULL) { Py_DECREF(raw); return NULL; }
    char *o = PyBytes_AS_STRING(out);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (s[i] == '\\' || s[i] == ' ' || s[i] == '\n') *o++ = '\\';
        *o++ = s[i];
    }
    Py_DECREF(raw);
    return out;
}

/* The blob-like types and their ASB letter (C text_bytes_type_to_label), 0 for others. */
static char bytes_label(long t) {
    switch (t) {
    case 4: return 'B'; case 7: return 'J'; case 8: return 'C'; case 9: return 'P';
    case 10: return 'R'; case 11: return 'H'; case 12: return 'E'; case 18: return 'Y';
    case 19: return 'M'; case 20: return 'L';
    default: return 0;
    }
}

#define ENC_COLS 9

/* encode_batch (with_sizes 0) or encode_batch_sizes (1: also each record's byte length). */
static PyObject *encode_impl(PyObject *args, PyObject *kwargs, int with_sizes) {
    static char *kwlist[] = {"batch", "compact", NULL};
    PyObject *batch, *compact_obj = Py_False;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, with_sizes ? "O|O:encode_batch_sizes" : "O|O:encode_batch", kwlist,
                                     &batch, &compact_obj))
        return NULL;
    PyObject *sizes = NULL;
    PyObject *cols[ENC_COLS] = {NULL};
    PyObject *bufobj = NULL, *nsobj = NULL, *ns_esc = NULL, *set_obj = NULL, *set_esc = NULL;
    PyObject *slot_name[NAME_CACHE] = {NULL}; /* borrowed identities */
    PyObject *slot_esc[NAME_CACHE] = {NULL};  /* strong */
    Py_buffer view;
    int have_view = 0, delegate = 1;
    OutBuf out = {NULL, 0, 0};
    PyObject *result = NULL;
    static PyObject **col_names[ENC_COLS] = {&s_sets, &s_digests, &s_keys, &s_generations, &s_void_times,
                                             &s_bin_index, &s_bin_names, &s_bin_types, &s_bin_starts};
    int compact = PyObject_IsTrue(compact_obj);
    if (compact < 0) { PyErr_Clear(); goto finish; }
    bufobj = PyObject_GetAttr(batch, s_buffer);
    if (bufobj == NULL) { PyErr_Clear(); goto finish; }
    if (!PyBytes_CheckExact(bufobj) && !PyByteArray_CheckExact(bufobj)) goto finish;
    if (PyObject_GetBuffer(bufobj, &view, PyBUF_SIMPLE) < 0) { PyErr_Clear(); goto finish; }
    have_view = 1;
    const unsigned char *buf = (const unsigned char *)view.buf;
    const Py_ssize_t blen = view.len;
    for (int c = 0; c < ENC_COLS; c++) {
        cols[c] = PyObject_GetAttr(batch, *col_names[c]);
        if (cols[c] == NULL) { PyErr_Clear(); goto finish; }
        if (!PyList_CheckExact(cols[c])) goto finish;
    }
    PyObject *bends = PyObject_GetAttr(batch, s_bin_ends);
    if (bends == NULL) { PyErr_Clear(); goto finish; }
    if (!PyList_CheckExact(bends)) { Py_DECREF(bends); goto finish; }
    PyObject *sets = cols[0], *digests = cols[1], *keys = cols[2], *gens = cols[3], *voids = cols[4],
             *bindex = cols[5], *bnames = cols[6], *btypes = cols[7], *bstarts = cols[8];
    nsobj = PyObject_GetAttr(batch, s_namespace);
    if (nsobj == NULL) { PyErr_Clear(); Py_DECREF(bends); goto finish; }
    if (!PyUnicode_CheckExact(nsobj) || (ns_esc = escaped_name(nsobj)) == NULL) {
        PyErr_Clear();
        Py_DECREF(bends);
        goto finish;
    }
    /* Python zips the record columns and bin columns with strict=True. */
    Py_ssize_t n = PyList_GET_SIZE(sets), m = PyList_GET_SIZE(bnames);
    if (PyList_GET_SIZE(keys) != n || PyList_GET_SIZE(gens) != n || PyList_GET_SIZE(voids) != n ||
        PyList_GET_SIZE(bindex) != n + 1 || PyList_GET_SIZE(digests) != n || PyList_GET_SIZE(btypes) != m ||
        PyList_GET_SIZE(bstarts) != m || PyList_GET_SIZE(bends) != m) {
        Py_DECREF(bends);
        goto finish;
    }
    if (ob_reserve(&out, 64 + n * 200 + m * 32) < 0) { delegate = 0; Py_DECREF(bends); goto finish; }
    long long lo;
    if (small_int(PyList_GET_ITEM(bindex, 0), 0, 0, &lo) < 0) { Py_DECREF(bends); goto finish; }
    if (with_sizes && (sizes = PyList_New(0)) == NULL) { delegate = 0; Py_DECREF(bends); goto finish; }
    /* Python builds all bin lines first (raising on the first bad bin), then the records: a bad
       bin anywhere means delegation, so the order does not matter here. */
    for (Py_ssize_t i = 0; i < n; i++) {
        long long hi, gen, vt;
        Py_ssize_t rec_start = out.len;
        if (small_int(PyList_GET_ITEM(bindex, i + 1), lo, m, &hi) < 0) goto bad;
        PyObject *key = PyList_GET_ITEM(keys, i), *set_name = PyList_GET_ITEM(sets, i);
        PyObject *digest = PyList_GET_ITEM(digests, i);
        if (small_int(PyList_GET_ITEM(gens, i), LLONG_MIN, LLONG_MAX, &gen) < 0) goto bad;
        if (small_int(PyList_GET_ITEM(voids, i), LLONG_MIN, LLONG_MAX, &vt) < 0) goto bad;
        if (!PyBytes_CheckExact(digest) || PyBytes_GET_SIZE(digest) != 20) goto bad;
        if (!PyUnicode_CheckExact(set_name)) goto bad;
        if (key != Py_None) {
            PyObject *kt_obj = PyObject_GetAttr(key, s_particle_type);
            if (kt_obj == NULL) { PyErr_Clear(); goto bad; }
            long long kt;
            int bad_t = small_int(kt_obj, LLONG_MIN, LLONG_MAX, &kt);
            Py_DECREF(kt_obj);
            if (bad_t) goto bad;
            PyObject *kd = PyObject_GetAttr(key, s_data);
            if (kd == NULL) { PyErr_Clear(); goto bad; }
            if (!PyBytes_CheckExact(kd)) { Py_DECREF(kd); goto bad; }
            const unsigned char *d = (const unsigned char *)PyBytes_AS_STRING(kd);
            Py_ssize_t dl = PyBytes_GET_SIZE(kd);
            int rc = 0;
            if (kt == 3) {
                rc = ob_str(&out, "+ k S ") || ob_dec(&out, dl) || ob_put(&out, " ", 1) || ob_put(&out, d, dl) ||
                     ob_put(&out, "\n", 1);
            } else if (kt == 1) {
                if (dl > 8) { Py_DECREF(kd); goto bad; }
                rc = ob_str(&out, "+ k I ") || ob_dec(&out, rd_signed(d, dl)) || ob_put(&out, "\n", 1);
            } else if (kt == 2) {
                if (dl < 8) { Py_DECREF(kd); goto bad; }
                rc = ob_str(&out, "+ k D ") || ob_double(&out, rd_double(d)) || ob_put(&out, "\n", 1);
            } else if (kt >= 0 && kt < 256 && bytes_label((long)kt)) {
                if (compact) {
                    rc = ob_str(&out, "+ k B! ") || ob_dec(&out, dl) || ob_put(&out, " ", 1) ||
                         ob_put(&out, d, dl) || ob_put(&out, "\n", 1);
                } else {
                    Py_ssize_t el = b64_len(dl);
                    rc = ob_str(&out, "+ k B ") || ob_dec(&out, el) || ob_put(&out, " ", 1) ||
                         ob_reserve(&out, el + 1);
                    if (!rc) {
                        out.len = b64_put(out.p + out.len, d, dl) - out.p;
                        out.p[out.len++] = '\n';
                    }
                }
            } else {
                Py_DECREF(kd);
                goto bad; /* FormatError: Invalid key type */
            }
            Py_DECREF(kd);
            if (rc) goto oom;
        }
        if (ob_str(&out, "+ n ") || ob_put(&out, PyBytes_AS_STRING(ns_esc), PyBytes_GET_SIZE(ns_esc)) ||
            ob_str(&out, "\n+ d ") || ob_reserve(&out, 30))
            goto oom;
        b64_put(out.p + out.len, (const unsigned char *)PyBytes_AS_STRING(digest), 20);
        out.len += 27; /* 20 bytes + the NUL pad byte of Python's joined encoding: 27 chars, then "=" */
        out.p[out.len++] = '=';
        out.p[out.len++] = '\n';
        if (PyUnicode_GET_LENGTH(set_name) != 0) {
            if (set_name != set_obj) {
                PyObject *e = escaped_name(set_name);
                if (e == NULL) { PyErr_Clear(); goto bad; }
                Py_XDECREF(set_esc);
                Py_XDECREF(set_obj);
                set_esc = e;
                set_obj = set_name;
                Py_INCREF(set_obj);
            }
            if (ob_str(&out, "+ s ") || ob_put(&out, PyBytes_AS_STRING(set_esc), PyBytes_GET_SIZE(set_esc)) ||
                ob_put(&out, "\n", 1))
                goto oom;
        }
        if (ob_str(&out, "+ g ") || ob_dec(&out, gen) || ob_str(&out, "\n+ t ") || ob_dec(&out, vt) ||
            ob_str(&out, "\n+ b ") || ob_dec(&out, hi - lo) || ob_put(&out, "\n", 1))
            goto oom;
        for (Py_ssize_t j = (Py_ssize_t)lo; j < (Py_ssize_t)hi; j++) {
            PyObject *name = PyList_GET_ITEM(bnames, j);
            Py_ssize_t k = j - (Py_ssize_t)lo;
            PyObject *esc;
            if (k < NAME_CACHE && slot_name[k] == name) {
                esc = slot_esc[k];
            } else {
                if (!PyUnicode_CheckExact(name)) goto bad;
                esc = escaped_name(name);
                if (esc == NULL) { PyErr_Clear(); goto bad; }
                if (k < NAME_CACHE) {
                    Py_XDECREF(slot_esc[k]);
                    slot_esc[k] = esc;
                    slot_name[k] = name;
                } else {
                    /* rare: more bins than cache slots; keep it alive in slot 0's place */
                    Py_XDECREF(slot_esc[NAME_CACHE - 1]);
                    slot_esc[NAME_CACHE - 1] = esc;
                    slot_name[NAME_CACHE - 1] = NULL;
                }
            }
            const char *en = PyBytes_AS_STRING(esc);
            Py_ssize_t enl = PyBytes_GET_SIZE(esc);
            long long t, s, e;
            if (small_int(PyList_GET_ITEM(btypes, j), LLONG_MIN, LLONG_MAX, &t) < 0) goto bad;
            if (small_int(PyList_GET_ITEM(bstarts, j), 0, blen, &s) < 0) goto bad;
            if (small_int(PyList_GET_ITEM(bends, j), s, blen, &e) < 0) goto bad;
            const unsigned char *v = buf + s;
            Py_ssize_t vl = (Py_ssize_t)(e - s);
            char label = (t >= 0 && t < 256) ? bytes_label((long)t) : 0;
            int rc;
            if (t == 1) {
                if (vl > 8) goto bad;
                rc = ob_str(&out, "- I ") || ob_put(&out, en, enl) || ob_put(&out, " ", 1) ||
                     ob_dec(&out, rd_signed(v, vl)) || ob_put(&out, "\n", 1);
            } else if (t == 3) {
                rc = ob_str(&out, "- S ") || ob_put(&out, en, enl) || ob_put(&out, " ", 1) || ob_dec(&out, vl) ||
                     ob_put(&out, " ", 1) || ob_put(&out, v, vl) || ob_put(&out, "\n", 1);
            } else if (label) {
                char pre[6] = {'-', ' ', label, compact ? '!' : ' ', ' ', 0};
                if (!compact) pre[4] = 0;
                rc = ob_str(&out, pre) || ob_put(&out, en, enl) || ob_put(&out, " ", 1);
                if (!rc && compact) {
                    rc = ob_dec(&out, vl) || ob_put(&out, " ", 1) || ob_put(&out, v, vl) || ob_put(&out, "\n", 1);
                } else if (!rc) {
                    Py_ssize_t el = b64_len(vl);
                    rc = ob_dec(&out, el) || ob_put(&out, " ", 1) || ob_reserve(&out, el + 1);
                    if (!rc) {
                        out.len = b64_put(out.p + out.len, v, vl) - out.p;
                        out.p[out.len++] = '\n';
                    }
                }
            } else if (t == 2) {
                if (s + 8 > blen) goto bad; /* Python unpacks 8 bytes at s, whatever e is */
                rc = ob_str(&out, "- D ") || ob_put(&out, en, enl) || ob_put(&out, " ", 1) ||
                     ob_double(&out, rd_double(v)) || ob_put(&out, "\n", 1);
            } else if (t == 17) {
                if (s >= blen) goto bad;
                rc = ob_str(&out, "- Z ") || ob_put(&out, en, enl) || ob_str(&out, v[0] ? " T\n" : " F\n");
            } else if (t == 0) {
                rc = ob_str(&out, "- N ") || ob_put(&out, en, enl) || ob_put(&out, "\n", 1);
            } else if (t == 23) {
                Py_ssize_t start = (Py_ssize_t)e;
                if (vl >= 3) start = (Py_ssize_t)s + 3 + 8 * (Py_ssize_t)rd_u16(v + 1);
                if (start > e) goto bad;
                rc = ob_str(&out, "- G ") || ob_put(&out, en, enl) || ob_put(&out, " ", 1) ||
                     ob_dec(&out, (long long)(e - start)) || ob_put(&out, " ", 1) ||
                     ob_put(&out, buf + start, (Py_ssize_t)e - start) || ob_put(&out, "\n", 1);
            } else {
                goto bad; /* FormatError: Invalid bytes type */
            }
            if (rc) goto oom;
        }
        if (sizes != NULL) {
            PyObject *sz = PyLong_FromSsize_t(out.len - rec_start);
            if (sz == NULL || PyList_Append(sizes, sz) < 0) { Py_XDECREF(sz); goto oom; }
            Py_DECREF(sz);
        }
        lo = hi;
    }
    if (lo != m) goto bad; /* Python's strict zips: every bin belongs to a record */
    Py_DECREF(bends);
    result = PyBytes_FromStringAndSize((const char *)out.p, out.len);
    if (result != NULL && sizes != NULL) {
        PyObject *pair = PyTuple_Pack(2, result, sizes);
        Py_DECREF(result);
        result = pair;
    }
    delegate = 0;
    goto finish;
oom:
    Py_DECREF(bends);
    delegate = 0;
    goto finish;
bad:
    Py_DECREF(bends);
finish:
    if (have_view) PyBuffer_Release(&view);
    for (int c = 0; c < ENC_COLS; c++) Py_XDECREF(cols[c]);
    for (int k = 0; k < NAME_CACHE; k++) Py_XDECREF(slot_esc[k]);
    Py_XDECREF(bufobj);
    Py_XDECREF(nsobj);
    Py_XDECREF(ns_esc);
    Py_XDECREF(set_obj);
    Py_XDECREF(set_esc);
    PyMem_Free(out.p);
    Py_XDECREF(sizes);
    if (!delegate) return result;
    return call_reference("aerobackup.plugins.codecs.asb_encode", with_sizes ? "encode_batch_sizes_py" : "encode_batch_py",
                          args, kwargs);
}

static PyObject *py_asb_encode_batch(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    return encode_impl(args, kwargs, 0);
}

static PyObject *py_asb_encode_batch_sizes(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    return encode_impl(args, kwargs, 1);
}

/* ------------------------------------------------------------------------------------------ */
/* ASB record decoding, canonical records (asb_decode.parse_records_fast)                     */

static PyObject *s_gens, *s_vts, *s_types, *s_vals, *s_ns;

static signed char B64DEC[256];

static void b64dec_init(void) {
    for (int i = 0; i < 256; i++) B64DEC[i] = -1;
    for (int i = 0; i < 64; i++) B64DEC[(unsigned char)B64[i]] = (signed char)i;
}

/* binascii.a2b_base64(v, strict_mode=True) for len(v) % 4 == 0; NULL + no error: invalid. */
static PyObject *b64_strict(const unsigned char *s, Py_ssize_t n) {
    if (n & 3) return NULL;
    Py_ssize_t pads = 0;
    if (n && s[n - 1] == '=') pads = (s[n - 2] == '=') ? 2 : 1;
    for (Py_ssize_t i = 0; i < n - pads; i++)
        if (B64DEC[s[i]] < 0) return NULL;
    if (pads == 2 && n == 2) return NULL; /* unreachable for n % 4 == 0; kept for clarity */
    if (pads && (n - pads) % 4 < 2) return NULL; /* "X===" / "====" */
    Py_ssize_t out_len = (n / 4) * 3 - pads;
    PyObject *out = PyBytes_FromStringAndSize(NULL, out_len);
    if (out == NULL) return NULL;
    unsigned char *o = (unsigned char *)PyBytes_AS_STRING(out);
    Py_ssize_t i = 0, k = 0;
    for (; i + 4 <= n - (pads ? 4 : 0); i += 4) {
        uint32_t v = ((uint32_t)B64DEC[s[i]] << 18) | ((uint32_t)B64DEC[s[i + 1]] << 12) |
                     ((uint32_t)B64DEC[s[i + 2]] << 6) | (uint32_t)B64DEC[s[i + 3]];
        o[k++] = (unsigned char)(v >> 16); o[k++] = (unsigned char)(v >> 8); o[k++] = (unsigned char)v;
    }
    if (pads) {
        uint32_t v = ((uint32_t)B64DEC[s[i]] << 18) | ((uint32_t)B64DEC[s[i + 1]] << 12);
        if (pads == 1) v |= (uint32_t)B64DEC[s[i + 2]] << 6;
        o[k++] = (unsigned char)(v >> 16);
        if (pads == 1) o[k++] = (unsigned char)(v >> 8);
    }
    return out;
}

/* find(ch, a, b) over data[0:dlen] like bytes.find: -1 when absent. */
static inline Py_ssize_t dfind(const unsigned char *d, Py_ssize_t dlen, unsigned char ch, Py_ssize_t a, Py_ssize_t b) {
    if (b > dlen) b = dlen;
    if (a < 0) a = 0;
    if (a >= b) return -1;
    const unsigned char *r = memchr(d + a, ch, (size_t)(b - a));
    return r ? r - d : -1;
}

/* Non-empty ASCII digits, value into *out (fails past max). */
static int digits(const unsigned char *s, Py_ssize_t n, unsigned long long max, unsigned long long *out) {
    if (n <= 0) return -1;
    unsigned long long v = 0;
    int big = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        if (!big) {
            if (v > (max - (s[i] - '0')) / 10) big = 1;
            else v = v * 10 + (s[i] - '0');
        }
    }
    if (big) return 1; /* digits, but too large */
    *out = v;
    return 0;
}

/* A bin name as _cache_name accepts it (<= 15 bytes, no backslash, newline or space). */
static int name_ok(const unsigned char *s, Py_ssize_t n) {
    if (n > 15) return 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (s[i] == '\\' || s[i] == '\n' || s[i] == ' ') return 0;
    return 1;
}

/* str for raw via a cache dict (filled while it holds < cap entries), with a position slot. */
static PyObject *cached_text(PyObject *cache, NameSlot *slot, const unsigned char *p, Py_ssize_t n, Py_ssize_t cap) {
    if (slot != NULL && slot->raw != NULL && PyBytes_GET_SIZE(slot->raw) == n &&
        memcmp(PyBytes_AS_STRING(slot->raw), p, (size_t)n) == 0)
        return slot->name;
    PyObject *raw = PyBytes_FromStringAndSize((const char *)p, n);
    if (raw == NULL) return NULL;
    PyObject *name = PyDict_GetItemWithError(cache, raw);
    if (name != NULL && !PyUnicode_CheckExact(name)) name = NULL; /* not ours: decode afresh */
    if (name == NULL) {
        if (PyErr_Occurred()) { Py_DECREF(raw); return NULL; }
        name = PyUnicode_DecodeUTF8((const char *)p, n, "surrogateescape");
        if (name == NULL) { Py_DECREF(raw); return NULL; }
        if (PyDict_GET_SIZE(cache) < cap && PyDict_SetItem(cache, raw, name) < 0) {
            Py_DECREF(raw); Py_DECREF(name); return NULL;
        }
    } else {
        Py_INCREF(name);
    }
    /* name is a strong reference here */
    if (slot == NULL) { Py_DECREF(raw); return name; } /* caller owns: see below */
    Py_XDECREF(slot->raw);
    Py_XDECREF(slot->name);
    slot->raw = raw;
    slot->name = name;
    return name; /* borrowed (slot holds it) */
}

enum { K_N = 0, K_I, K_D, K_Z, K_S, K_G, K_B64, K_RAW, K_X };

/* Kind and particle type of a bin-line prefix (_BIN_PREFIX), -1 if none. */
static int bin_prefix(const unsigned char *h, int *ptype) {
    if (h[0] != '-' || h[1] != ' ') return -1;
    unsigned char l = h[2], c = h[3];
    if (c == ' ') {
        switch (l) {
        case 'N': *ptype = 0; return K_N;
        case 'I': *ptype = 1; return K_I;
        case 'D': *ptype = 2; return K_D;
        case 'Z': *ptype = 17; return K_Z;
        case 'S': *ptype = 3; return K_S;
        case 'G': *ptype = 23; return K_G;
        case 'X': *ptype = 3; return K_X;
        default: break;
        }
    }
    int t;
    switch (l) {
    case 'B': t = 4; break; case 'J': t = 7; break; case 'C': t = 8; break; case 'P': t = 9; break;
    case 'R': t = 10; break; case 'H': t = 11; break; case 'E': t = 12; break; case 'Y': t = 18; break;
    case 'M': t = 19; break; case 'L': t = 20; break;
    default: return -1;
    }
    *ptype = t;
    if (c == ' ') return K_B64;
    if (c == '!') return K_RAW;
    return -1;
}

#if defined(__GLIBC__)
#define AB_HAVE_STRTOD_L 1
#include <locale.h>
static locale_t c_locale;
#endif

/* Python float(v) for v made of "0123456789.e+-" only; 0 ok, -1 not a float. */
static int parse_float(const unsigned char *v, Py_ssize_t n, double *out) {
    char small[64];
    char *buf = small;
    if (n + 1 > (Py_ssize_t)sizeof(small)) {
        buf = PyMem_Malloc((size_t)n + 1);
        if (buf == NULL) return -1;
    }
    memcpy(buf, v, (size_t)n);
    buf[n] = 0;
    char *endp = NULL;
#ifdef AB_HAVE_STRTOD_L
    /* glibc's strtod is correctly rounded like Python's own (overflow gives +-inf, as float()
       does); the "C" locale object keeps the decimal point a ".". ~40% faster than dtoa.c. */
    double d = strtod_l(buf, &endp, c_locale);
    int ok = endp == buf + n && n > 0;
#else
    double d = PyOS_string_to_double(buf, &endp, NULL);
    int ok = !(d == -1.0 && PyErr_Occurred()) && endp == buf + n;
    if (PyErr_Occurred()) PyErr_Clear();
#endif
    if (buf != small) PyMem_Free(buf);
    if (!ok) return -1;
    *out = d;
    return 0;
}

static PyObject *pack_double(double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    unsigned char b[8];
    wr_u32(b, (uint32_t)(u >> 32));
    wr_u32(b + 4, (uint32_t)u);
    return PyBytes_FromStringAndSize((const char *)b, 8);
}

static PyObject *pack_int64(long long v) {
    unsigned char b[8];
    uint64_t u = (uint64_t)v;
    wr_u32(b, (uint32_t)(u >> 32));
    wr_u32(b + 4, (uint32_t)u);
    return PyBytes_FromStringAndSize((const char *)b, 8);
}

/* "-?digits" within int64 (the fast path's integer check + pack_q); 0 ok. */
static int parse_int64(const unsigned char *v, Py_ssize_t n, long long *out) {
    int neg = n > 0 && v[0] == '-';
    unsigned long long u;
    if (digits(v + neg, n - neg, neg ? 9223372036854775808ULL : 9223372036854775807ULL, &u) != 0) return -1;
    *out = neg ? (long long)(0ULL - u) : (long long)u;
    return 0;
}

/* Header token of chars other than backslash, newline, space: 1..max of them then "\n". */
static Py_ssize_t hdr_token(const unsigned char *d, Py_ssize_t dlen, Py_ssize_t q, Py_ssize_t max) {
    Py_ssize_t i = q;
    while (i < dlen && i - q <= max && d[i] != '\\' && d[i] != '\n' && d[i] != ' ') i++;
    if (i == q || i - q > max || i >= dlen || d[i] != '\n') return -1;
    return i; /* position of the newline */
}

static int lit(const unsigned char *d, Py_ssize_t dlen, Py_ssize_t q, const char *s, Py_ssize_t n) {
    return q + n <= dlen && memcmp(d + q, s, (size_t)n) == 0;
}

/* "<4-byte prefix>[0-9]{1,max}\n" at q: value, position after the newline (or -1). */
static Py_ssize_t hdr_number(const unsigned char *d, Py_ssize_t dlen, Py_ssize_t q, const char *prefix, int max,
                             unsigned long long *out) {
    if (!lit(d, dlen, q, prefix, 4)) return -1;
    q += 4;
    Py_ssize_t i = q;
    while (i < dlen && i - q <= max && d[i] >= '0' && d[i] <= '9') i++;
    if (i == q || i - q > max || i >= dlen || d[i] != '\n') return -1;
    unsigned long long v = 0;
    for (Py_ssize_t k = q; k < i; k++) v = v * 10 + (d[k] - '0');
    *out = v;
    return i + 1;
}

#define DEC_COLS 9

static PyObject *py_asb_parse_records_fast(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "parse_records_fast() takes 7 positional arguments");
        return NULL;
    }
    PyObject *dobj = args[0], *cols_obj = args[3], *caches = args[4], *ns_raw = args[6];
    PyObject *cols[DEC_COLS] = {NULL};
    PyObject *c_names = NULL, *c_ns = NULL, *c_sets = NULL;
    NameSlot slots[NAME_CACHE];
    NameSlot set_slot = {NULL, NULL};
    memset(slots, 0, sizeof(slots));
    PyObject *result = NULL;
    int delegate = 1;
    Py_INCREF(ns_raw);
    static PyObject **col_names[DEC_COLS] = {&s_sets, &s_digests, &s_keys, &s_gens, &s_vts, &s_bin_index,
                                             &s_names, &s_types, &s_vals};
    if (!PyBytes_CheckExact(dobj) || (ns_raw != Py_None && !PyBytes_CheckExact(ns_raw))) goto finish;
    long long p, end, limit;
    const unsigned char *d = (const unsigned char *)PyBytes_AS_STRING(dobj);
    const Py_ssize_t dlen = PyBytes_GET_SIZE(dobj);
    if (small_int(args[1], 0, dlen, &p) < 0 || small_int(args[2], 0, dlen, &end) < 0 ||
        small_int(args[5], LLONG_MIN, LLONG_MAX, &limit) < 0)
        goto finish;
    if (end != dlen || (end > 0 && d[end - 1] != '\n')) goto finish; /* the contract: whole lines */
    for (int c = 0; c < DEC_COLS; c++) {
        cols[c] = PyObject_GetAttr(cols_obj, *col_names[c]);
        if (cols[c] == NULL) { PyErr_Clear(); goto finish; }
        if (!PyList_CheckExact(cols[c])) goto finish;
    }
    PyObject *l_sets = cols[0], *l_digests = cols[1], *l_keys = cols[2], *l_gens = cols[3], *l_vts = cols[4],
             *l_index = cols[5], *l_names = cols[6], *l_types = cols[7], *l_vals = cols[8];
    c_names = PyObject_GetAttr(caches, s_names);
    c_ns = PyObject_GetAttr(caches, s_ns);
    c_sets = PyObject_GetAttr(caches, s_sets);
    if (c_names == NULL || c_ns == NULL || c_sets == NULL) { PyErr_Clear(); goto finish; }
    if (!PyDict_CheckExact(c_names) || !PyDict_CheckExact(c_ns) || !PyDict_CheckExact(c_sets)) goto finish;
    delegate = 0;
    Py_ssize_t count = PyList_GET_SIZE(l_digests);
    while (count < limit && p < end) {
        Py_ssize_t q = (Py_ssize_t)p;
        PyObject *key = NULL;
        if (lit(d, dlen, q, "+ k ", 4)) {
            if (lit(d, dlen, q + 4, "I ", 2)) {
                Py_ssize_t e = dfind(d, dlen, '\n', q + 6, dlen);
                long long v;
                if (e < 0 || parse_int64(d + q + 6, e - (q + 6), &v) < 0) break;
                key = new_user_key(1, pack_int64(v));
                if (key == NULL) goto error;
                q = e + 1;
            } else if (lit(d, dlen, q + 4, "S ", 2) || lit(d, dlen, q + 4, "B ", 2) || lit(d, dlen, q + 4, "B!", 2)) {
                int kind = d[q + 4] == 'S' ? 0 : d[q + 5] == '!' ? 2 : 1;
                Py_ssize_t s0 = q + 6;
                if (kind == 2) {
                    if (s0 >= dlen || d[s0] != ' ') break;
                    s0++;
                }
                Py_ssize_t sp = dfind(d, dlen, ' ', s0, s0 + 14);
                unsigned long long nlen = 0;
                /* not digits, or a length past any buffer (so past the end): not canonical */
                if (sp < 0 || digits(d + s0, sp - s0, (unsigned long long)dlen, &nlen) != 0) break;
                Py_ssize_t ve = sp + 1 + (Py_ssize_t)nlen;
                if (ve >= end || d[ve] != '\n') break;
                PyObject *raw;
                if (kind == 1) {
                    raw = b64_strict(d + sp + 1, ve - (sp + 1));
                    if (raw == NULL) { if (PyErr_Occurred()) goto error; break; }
                } else {
                    raw = PyBytes_FromStringAndSize((const char *)d + sp + 1, ve - (sp + 1));
                }
                key = new_user_key(kind == 0 ? 3 : 4, raw);
                if (key == NULL) goto error;
                q = ve + 1;
            } else {
                break;
            }
        }
        /* the record header (the _HDR regex) */
        Py_ssize_t ns_at = q + 4, ns_nl, dig_at, set_at = -1, set_nl = -1;
        unsigned long long gen, vt, nbins;
        if (!lit(d, dlen, q, "+ n ", 4) || (ns_nl = hdr_token(d, dlen, ns_at, 31)) < 0) goto no_record;
        q = ns_nl + 1;
        if (!lit(d, dlen, q, "+ d ", 4) || q + 4 + 29 > dlen) goto no_record;
        dig_at = q + 4;
        for (int k = 0; k < 27; k++)
            if (B64DEC[d[dig_at + k]] < 0) goto no_record;
        if (d[dig_at + 27] != '=' || d[dig_at + 28] != '\n') goto no_record;
        q = dig_at + 29;
        if (lit(d, dlen, q, "+ s ", 4) && (set_nl = hdr_token(d, dlen, q + 4, 63)) >= 0) {
            set_at = q + 4;
            q = set_nl + 1;
        }
        if ((q = hdr_number(d, dlen, q, "+ g ", 5, &gen)) < 0) goto no_record;
        if ((q = hdr_number(d, dlen, q, "+ t ", 10, &vt)) < 0) goto no_record;
        if ((q = hdr_number(d, dlen, q, "+ b ", 5, &nbins)) < 0) goto no_record;
        {
            const unsigned char *nsp = d + ns_at;
            Py_ssize_t nsl = ns_nl - ns_at;
            if (ns_raw == Py_None || PyBytes_GET_SIZE(ns_raw) != nsl ||
                memcmp(PyBytes_AS_STRING(ns_raw), nsp, (size_t)nsl) != 0) {
                if (ns_raw != Py_None) goto no_record;
                PyObject *nb = PyBytes_FromStringAndSize((const char *)nsp, nsl);
                if (nb == NULL) { Py_XDECREF(key); goto error; }
                Py_DECREF(ns_raw);
                ns_raw = nb;
                PyObject *have = PyDict_GetItemWithError(c_ns, nb);
                if (have == NULL) {
                    if (PyErr_Occurred()) { Py_XDECREF(key); goto error; }
                    PyObject *txt = PyUnicode_DecodeUTF8((const char *)nsp, nsl, "surrogateescape");
                    if (txt == NULL || PyDict_SetItem(c_ns, nb, txt) < 0) {
                        Py_XDECREF(txt); Py_XDECREF(key); goto error;
                    }
                    Py_DECREF(txt);
                }
            }
        }
        PyObject *set_name = s_empty; /* borrowed */
        if (set_at >= 0) {
            Py_ssize_t sl = set_nl - set_at;
            int known = set_slot.raw != NULL && PyBytes_GET_SIZE(set_slot.raw) == sl &&
                        memcmp(PyBytes_AS_STRING(set_slot.raw), d + set_at, (size_t)sl) == 0;
            if (!known) {
                PyObject *sb = PyBytes_FromStringAndSize((const char *)d + set_at, sl);
                if (sb == NULL) { Py_XDECREF(key); goto error; }
                int has = PyDict_Contains(c_sets, sb);
                Py_DECREF(sb);
                if (has < 0) { Py_XDECREF(key); goto error; }
                if (!has && PyDict_GET_SIZE(c_sets) > 4096) { Py_XDECREF(key); goto no_record_nokey; }
            }
            set_name = cached_text(c_sets, &set_slot, d + set_at, sl, PY_SSIZE_T_MAX);
            if (set_name == NULL) { Py_XDECREF(key); goto error; }
        }
        if (gen > 65535 || vt > 4294967295ULL || nbins > 65535) goto no_record;
        Py_ssize_t mark = PyList_GET_SIZE(l_names);
        int ok = 1;
        for (unsigned long long b = 0; b < nbins; b++) {
            if (q + 4 > dlen) { ok = 0; break; }
            int ptype;
            int kind = bin_prefix(d + q, &ptype);
            if (kind < 0) { ok = 0; break; }
            Py_ssize_t sp, name_at = q + 4, name_end;
            if (kind == K_N) {
                name_end = dfind(d, dlen, '\n', q + 4, dlen);
                if (name_end < 0) { ok = 0; break; }
                sp = name_end;
            } else {
                sp = dfind(d, dlen, ' ', q + 5, q + 22);
                if (sp < 0) { ok = 0; break; }
                if (kind == K_RAW) {
                    if (d[q + 4] != ' ') { ok = 0; break; }
                    name_at++;
                }
                name_end = sp;
            }
            if (!name_ok(d + name_at, name_end - name_at)) { ok = 0; break; }
            NameSlot *slot = b < NAME_CACHE ? &slots[b] : NULL;
            PyObject *name = cached_text(c_names, slot, d + name_at, name_end - name_at, 65536);
            if (name == NULL) { Py_XDECREF(key); goto error; }
            PyObject *val = NULL;
            if (kind == K_N) {
                val = PyBytes_FromStringAndSize("", 0);
                q = sp + 1;
            } else if (kind == K_I) {
                Py_ssize_t e = dfind(d, dlen, '\n', sp, dlen);
                long long v;
                if (e < 0 || parse_int64(d + sp + 1, e - (sp + 1), &v) < 0) { ok = 0; }
                else { val = pack_int64(v); q = e + 1; }
            } else if (kind == K_D) {
                Py_ssize_t e = dfind(d, dlen, '\n', sp, dlen);
                const unsigned char *v = d + sp + 1;
                Py_ssize_t vl = e - (sp + 1);
                double dv;
                if (e < 0 || vl <= 0) { ok = 0; }
                else if (vl == 3 && memcmp(v, "nan", 3) == 0) { val = PyBytes_FromStringAndSize("\x7f\xf8\0\0\0\0\0\0", 8); q = e + 1; }
                else if (vl == 4 && memcmp(v, "-nan", 4) == 0) { val = PyBytes_FromStringAndSize("\xff\xf8\0\0\0\0\0\0", 8); q = e + 1; }
                else if (vl == 3 && memcmp(v, "inf", 3) == 0) { val = PyBytes_FromStringAndSize("\x7f\xf0\0\0\0\0\0\0", 8); q = e + 1; }
                else if (vl == 4 && memcmp(v, "-inf", 4) == 0) { val = PyBytes_FromStringAndSize("\xff\xf0\0\0\0\0\0\0", 8); q = e + 1; }
                else {
                    for (Py_ssize_t k = 0; k < vl && ok; k++)
                        if (!strchr("0123456789.e+-", v[k]) || v[k] == 0) ok = 0;
                    if (ok && parse_float(v, vl, &dv) < 0) ok = 0;
                    if (ok) { val = pack_double(dv); q = e + 1; }
                }
            } else if (kind == K_Z) {
                if (sp + 3 <= dlen && d[sp + 2] == '\n' && (d[sp + 1] == 'T' || d[sp + 1] == 'F')) {
                    val = PyBytes_FromStringAndSize(d[sp + 1] == 'T' ? "\x01" : "\x00", 1);
                    q = sp + 3;
                } else {
                    ok = 0;
                }
            } else { /* length-prefixed: S G b64 raw X */
                Py_ssize_t sp2 = dfind(d, dlen, ' ', sp + 1, sp + 22);
                unsigned long long nlen = 0;
                int dr = sp2 < 0 ? -1 : digits(d + sp + 1, sp2 - (sp + 1), (unsigned long long)dlen, &nlen);
                if (dr != 0) { ok = 0; }  /* not digits, or a length past any buffer */
                else {
                    Py_ssize_t ve = sp2 + 1 + (Py_ssize_t)nlen;
                    if (ve >= end || d[ve] != '\n') { ok = 0; }
                    else {
                        const unsigned char *v = d + sp2 + 1;
                        Py_ssize_t vl = ve - (sp2 + 1);
                        if (kind == K_B64 || kind == K_X) {
                            val = b64_strict(v, vl);
                            if (val == NULL && !PyErr_Occurred()) ok = 0;
                        } else if (kind == K_G) {
                            val = PyBytes_FromStringAndSize(NULL, vl + 3);
                            if (val != NULL) {
                                memset(PyBytes_AS_STRING(val), 0, 3);
                                memcpy(PyBytes_AS_STRING(val) + 3, v, (size_t)vl);
                            }
                        } else {
                            val = PyBytes_FromStringAndSize((const char *)v, vl);
                        }
                        if (ok) q = ve + 1;
                    }
                }
            }
            if (!ok) {
                if (slot == NULL) Py_DECREF(name);
                break;
            }
            if (val == NULL) { Py_XDECREF(key); if (slot == NULL) Py_DECREF(name); goto error; }
            PyObject *pt = PyLong_FromLong(ptype);
            int rc = pt == NULL || PyList_Append(l_names, name) < 0 || PyList_Append(l_types, pt) < 0 ||
                     PyList_Append(l_vals, val) < 0;
            Py_XDECREF(pt);
            Py_DECREF(val);
            if (slot == NULL) Py_DECREF(name);
            if (rc) { Py_XDECREF(key); goto error; }
        }
        if (!ok || q > end) {
            Py_XDECREF(key);
            if (PyList_SetSlice(l_names, mark, PyList_GET_SIZE(l_names), NULL) < 0 ||
                PyList_SetSlice(l_types, mark, PyList_GET_SIZE(l_types), NULL) < 0 ||
                PyList_SetSlice(l_vals, mark, PyList_GET_SIZE(l_vals), NULL) < 0)
                goto error;
            break;
        }
        {
            /* the digest: 27 base64 chars + "=" -> 20 bytes */
            unsigned char dig[21];
            const unsigned char *s = d + dig_at;
            int k = 0;
            for (int i = 0; i < 24; i += 4) {
                uint32_t v = ((uint32_t)B64DEC[s[i]] << 18) | ((uint32_t)B64DEC[s[i + 1]] << 12) |
                             ((uint32_t)B64DEC[s[i + 2]] << 6) | (uint32_t)B64DEC[s[i + 3]];
                dig[k++] = (unsigned char)(v >> 16); dig[k++] = (unsigned char)(v >> 8); dig[k++] = (unsigned char)v;
            }
            uint32_t v = ((uint32_t)B64DEC[s[24]] << 18) | ((uint32_t)B64DEC[s[25]] << 12) |
                         ((uint32_t)B64DEC[s[26]] << 6);
            dig[k++] = (unsigned char)(v >> 16); dig[k++] = (unsigned char)(v >> 8);
            PyObject *digest = PyBytes_FromStringAndSize((const char *)dig, 20);
            PyObject *g = digest ? PyLong_FromUnsignedLongLong(gen) : NULL;
            PyObject *t = g ? PyLong_FromUnsignedLongLong(vt) : NULL;
            PyObject *ix = t ? PyLong_FromSsize_t(PyList_GET_SIZE(l_names)) : NULL;
            int rc = ix == NULL || PyList_Append(l_sets, set_name) < 0 || PyList_Append(l_digests, digest) < 0 ||
                     PyList_Append(l_keys, key ? key : Py_None) < 0 || PyList_Append(l_gens, g) < 0 ||
                     PyList_Append(l_vts, t) < 0 || PyList_Append(l_index, ix) < 0;
            Py_XDECREF(digest); Py_XDECREF(g); Py_XDECREF(t); Py_XDECREF(ix);
            Py_XDECREF(key);
            if (rc) goto error;
        }
        count++;
        p = q;
        continue;
    no_record:
        Py_XDECREF(key);
    no_record_nokey:
        break;
    }
    result = Py_BuildValue("(LO)", p, ns_raw);
    goto finish;
error:
    delegate = 0;
    result = NULL;
finish:
    for (int c = 0; c < DEC_COLS; c++) Py_XDECREF(cols[c]);
    for (int k = 0; k < NAME_CACHE; k++) { Py_XDECREF(slots[k].raw); Py_XDECREF(slots[k].name); }
    Py_XDECREF(set_slot.raw);
    Py_XDECREF(set_slot.name);
    Py_XDECREF(c_names);
    Py_XDECREF(c_ns);
    Py_XDECREF(c_sets);
    Py_DECREF(ns_raw);
    if (!delegate) return result;
    {
        PyObject *targs = PyTuple_New(7);
        if (targs == NULL) return NULL;
        for (int i = 0; i < 7; i++) { Py_INCREF(args[i]); PyTuple_SET_ITEM(targs, i, args[i]); }
        PyObject *res = call_reference("aerobackup.plugins.codecs.asb_decode", "parse_records_fast_py", targs, NULL);
        Py_DECREF(targs);
        return res;
    }
}

/* _Columns.finish: one pass for the buffer and the offsets (asb_decode._Columns.finish). */
static PyObject *record_batch_type = NULL;

static PyObject *py_asb_columns_finish(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "asb_columns_finish() takes 2 positional arguments");
        return NULL;
    }
    PyObject *cols_obj = args[0];
    static PyObject **col_names[DEC_COLS] = {&s_sets, &s_digests, &s_keys, &s_gens, &s_vts, &s_bin_index,
                                             &s_names, &s_types, &s_vals};
    PyObject *cols[DEC_COLS] = {NULL};
    PyObject *buffer = NULL, *starts = NULL, *ends = NULL, *result = NULL;
    int delegate = 1;
    for (int c = 0; c < DEC_COLS; c++) {
        cols[c] = PyObject_GetAttr(cols_obj, *col_names[c]);
        if (cols[c] == NULL) { PyErr_Clear(); goto finish; }
    }
    PyObject *vals = cols[8];
    if (!PyList_CheckExact(vals)) goto finish;
    Py_ssize_t n = PyList_GET_SIZE(vals), total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = PyList_GET_ITEM(vals, i);
        if (!PyBytes_CheckExact(v)) goto finish;
        total += PyBytes_GET_SIZE(v);
    }
    delegate = 0;
    if (record_batch_type == NULL) {
        PyObject *m = PyImport_ImportModule("aerobackup.model");
        if (m == NULL) goto finish;
        record_batch_type = PyObject_GetAttrString(m, "RecordBatch");
        Py_DECREF(m);
        if (record_batch_type == NULL) goto finish;
    }
    buffer = PyBytes_FromStringAndSize(NULL, total);
    starts = PyList_New(n);
    ends = PyList_New(n);
    if (buffer == NULL || starts == NULL || ends == NULL) goto finish;
    char *o = PyBytes_AS_STRING(buffer);
    Py_ssize_t at = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = PyList_GET_ITEM(vals, i);
        Py_ssize_t len = PyBytes_GET_SIZE(v);
        memcpy(o + at, PyBytes_AS_STRING(v), (size_t)len);
        PyObject *s = PyLong_FromSsize_t(at);
        if (s == NULL) goto finish;
        PyList_SET_ITEM(starts, i, s);
        at += len;
        PyObject *e = PyLong_FromSsize_t(at);
        if (e == NULL) goto finish;
        PyList_SET_ITEM(ends, i, e);
    }
    {
        PyObject *a[12] = {args[1], buffer, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7],
                           starts, ends};
        result = PyObject_Vectorcall(record_batch_type, a, 12, NULL);
        if (result == NULL) goto finish;
        PyObject *r = PyObject_CallMethod(cols_obj, "__init__", NULL);
        if (r == NULL) { Py_CLEAR(result); goto finish; }
        Py_DECREF(r);
    }
finish:
    for (int c = 0; c < DEC_COLS; c++) Py_XDECREF(cols[c]);
    Py_XDECREF(buffer);
    Py_XDECREF(starts);
    Py_XDECREF(ends);
    if (!delegate) return result;
    {
        PyObject *targs = PyTuple_Pack(2, args[0], args[1]);
        if (targs == NULL) return NULL;
        PyObject *res = call_reference("aerobackup.plugins.codecs.asb_decode", "_columns_finish_py", targs, NULL);
        Py_DECREF(targs);
        return res;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* module                                                                                     */

static PyMethodDef methods[] = {
    {"parse_records", (PyCFunction)(void (*)(void))py_parse_records, METH_FASTCALL,
     "parse_records(buf, pos, end, batch, state) -> int: aerobackup.wire.parse.parse_records in C."},
    {"parse_write_results", (PyCFunction)(void (*)(void))py_parse_write_results, METH_FASTCALL,
     "parse_write_results(buf, pos, end, results) -> (last, code): aerobackup.wire.parse.parse_write_results in C."},
    {"batch_write_request", (PyCFunction)(void (*)(void))py_batch_write_request, METH_VARARGS | METH_KEYWORDS,
     "batch_write_request(batch, rows, ttls, flags, *, timeout_ms=0, names=None) -> bytes: "
     "aerobackup.wire.messages.batch_write_request in C."},
    {"asb_encode_batch", (PyCFunction)(void (*)(void))py_asb_encode_batch, METH_VARARGS | METH_KEYWORDS,
     "asb_encode_batch(batch, compact=False) -> bytes: "
     "aerobackup.plugins.codecs.asb_encode.encode_batch in C."},
    {"asb_encode_batch_sizes", (PyCFunction)(void (*)(void))py_asb_encode_batch_sizes, METH_VARARGS | METH_KEYWORDS,
     "asb_encode_batch_sizes(batch, compact=False) -> (bytes, [record sizes]): "
     "aerobackup.plugins.codecs.asb_encode.encode_batch_sizes in C."},
    {"asb_parse_records_fast", (PyCFunction)(void (*)(void))py_asb_parse_records_fast, METH_FASTCALL,
     "asb_parse_records_fast(data, p, end, cols, caches, limit, ns_raw) -> (p, ns_raw): "
     "aerobackup.plugins.codecs.asb_decode.parse_records_fast in C."},
    {"asb_columns_finish", (PyCFunction)(void (*)(void))py_asb_columns_finish, METH_FASTCALL,
     "asb_columns_finish(cols, namespace) -> RecordBatch: "
     "aerobackup.plugins.codecs.asb_decode._Columns.finish in C."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "aerobackup._speedups",
    "Compiled inner loops of the hot path; the pure-Python functions stay the reference.", -1, methods,
    NULL, NULL, NULL, NULL,
};

#define INTERN(var, text)                                  \
    do {                                                   \
        if ((var = PyUnicode_InternFromString(text)) == NULL) return NULL; \
    } while (0)

PyMODINIT_FUNC PyInit__speedups(void) {
    INTERN(s_namespace, "namespace");
    INTERN(s_buffer, "buffer");
    INTERN(s_sets, "sets");
    INTERN(s_digests, "digests");
    INTERN(s_keys, "keys");
    INTERN(s_generations, "generations");
    INTERN(s_void_times, "void_times");
    INTERN(s_bin_index, "bin_index");
    INTERN(s_bin_names, "bin_names");
    INTERN(s_bin_types, "bin_types");
    INTERN(s_bin_starts, "bin_starts");
    INTERN(s_bin_ends, "bin_ends");
    INTERN(s_last, "last");
    INTERN(s_result, "result");
    INTERN(s_unavailable, "unavailable");
    INTERN(s_names, "names");
    INTERN(s_set_len, "set_len");
    INTERN(s_info2, "info2");
    INTERN(s_info3, "info3");
    INTERN(s_use_generation, "use_generation");
    INTERN(s_particle_type, "particle_type");
    INTERN(s_data, "data");
    INTERN(s_empty, "");
    INTERN(s_gens, "gens");
    INTERN(s_vts, "vts");
    INTERN(s_types, "types");
    INTERN(s_vals, "vals");
    INTERN(s_ns, "ns");
    b64dec_init();
#ifdef AB_HAVE_STRTOD_L
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (c_locale == (locale_t)0) return PyErr_NoMemory();
#endif
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddStringConstant(m, "IMPLEMENTATION", "C") < 0) { Py_DECREF(m); return NULL; }
    return m;
}
