/* The LSH index of a window's posts, compiled: socialpulse.core.neardup.NearDuplicateIndex's
 * Python (its ``_by_band`` dict of band key -> latest entry, its deque of entries), exactly.
 *
 * Held in flat arrays instead of an object per post and a dict entry per band: a ring of the
 * posts (creation time, id, signature, band keys), oldest first, and an open-addressing table
 * (linear probing, backward-shift deletion) of band key -> the ring position of the latest post
 * that had it. A position names one post while it is held (its keys leave the table with it,
 * before the position is reused), so "the table still names this post" is one comparison, as
 * the Python's ``is entry``. A table slot is 12 bytes, at most two thirds of the slots used.
 * Nothing here calls back into Python code while it touches its arrays.
 */
#include "links.h"
#include <stdint.h>
#include <string.h>

typedef struct {
    PyObject_HEAD
    Py_ssize_t values; /* uint32 values of a signature */
    Py_ssize_t bands;  /* band keys of a post */
    /* The ring: ``len`` posts from ``head``, the oldest first. */
    Py_ssize_t cap, head, len;
    double *ts;
    long long *post;
    uint32_t *sig;
    uint64_t *keys;
    /* The table: ``slots`` (a power of two) keys and ring positions, EMPTY for a free slot. */
    Py_ssize_t slots, used;
    int shift; /* 64 - log2(slots): a key's home slot is its top bits after mixing */
    uint64_t *tkey;
    uint32_t *tpos;
    /* The last tuple of band keys read and its keys: ``add`` is given the tuple ``nearest``
     * was just given, and a tuple of ints cannot change (reading the keys again was half the
     * cost of the pair). */
    PyObject *last_bands;
    uint64_t *last_keys;
} BandIndex;

#define EMPTY UINT32_MAX
#define MAX_POSTS ((Py_ssize_t)UINT32_MAX - 1) /* every position below EMPTY */

static Py_ssize_t
home(const BandIndex *x, uint64_t key)
{
    /* Fibonacci hashing: the keys are hashes already, this spreads their bits. */
    return (Py_ssize_t)((key * 0x9E3779B97F4A7C15ULL) >> x->shift);
}

/* The slot holding ``key``, or -1. */
static Py_ssize_t
find(const BandIndex *x, uint64_t key)
{
    Py_ssize_t mask = x->slots - 1;
    for (Py_ssize_t i = home(x, key);; i = (i + 1) & mask) {
        if (x->tpos[i] == EMPTY)
            return -1;
        if (x->tkey[i] == key)
            return i;
    }
}

static void
put(BandIndex *x, uint64_t key, uint32_t pos)
{
    Py_ssize_t mask = x->slots - 1, i = home(x, key);
    while (x->tpos[i] != EMPTY && x->tkey[i] != key)
        i = (i + 1) & mask;
    if (x->tpos[i] == EMPTY)
        x->used++;
    x->tkey[i] = key;
    x->tpos[i] = pos;
}

/* Empty slot i, moving later keys of its probe run back so every key stays findable. */
static void
drop(BandIndex *x, Py_ssize_t i)
{
    Py_ssize_t mask = x->slots - 1, j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (x->tpos[j] == EMPTY)
            break;
        Py_ssize_t k = home(x, x->tkey[j]);
        /* j stays unless its home k lies cyclically outside (i, j]. */
        int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            x->tkey[i] = x->tkey[j];
            x->tpos[i] = x->tpos[j];
            i = j;
        }
    }
    x->tpos[i] = EMPTY;
    x->used--;
}

/* A table of ``slots`` slots holding the live keys of the old one. */
static int
rehash(BandIndex *x, Py_ssize_t slots)
{
    uint64_t *okey = x->tkey;
    uint32_t *opos = x->tpos;
    Py_ssize_t old = x->slots;
    uint64_t *nkey = PyMem_Malloc((size_t)slots * sizeof(uint64_t));
    uint32_t *npos = PyMem_Malloc((size_t)slots * sizeof(uint32_t));
    if (!nkey || !npos) {
        PyMem_Free(nkey);
        PyMem_Free(npos);
        PyErr_NoMemory();
        return -1;
    }
    memset(npos, 0xff, (size_t)slots * sizeof(uint32_t)); /* EMPTY everywhere */
    x->tkey = nkey;
    x->tpos = npos;
    x->slots = slots;
    x->shift = 64;
    for (Py_ssize_t s = slots; s > 1; s >>= 1)
        x->shift--;
    x->used = 0;
    for (Py_ssize_t i = 0; i < old; i++)
        if (opos[i] != EMPTY)
            put(x, okey[i], opos[i]);
    PyMem_Free(okey);
    PyMem_Free(opos);
    return 0;
}

/* Room for one more post in the ring: half as much again, the oldest moved to 0 and the
 * table's positions moved with them. */
static int
grow_ring(BandIndex *x)
{
    if (x->len < x->cap)
        return 0;
    Py_ssize_t cap = x->cap < 64 ? 64 : x->cap + x->cap / 2;
    if (cap > MAX_POSTS)
        cap = MAX_POSTS;
    if (cap <= x->len ||
        cap > PY_SSIZE_T_MAX / (Py_ssize_t)(sizeof(uint64_t) * (size_t)(x->bands + x->values))) {
        PyErr_NoMemory();
        return -1;
    }
    double *ts = PyMem_Malloc((size_t)cap * sizeof(double));
    long long *post = PyMem_Malloc((size_t)cap * sizeof(long long));
    uint32_t *sig = PyMem_Malloc((size_t)cap * (size_t)x->values * sizeof(uint32_t));
    uint64_t *keys = PyMem_Malloc((size_t)cap * (size_t)x->bands * sizeof(uint64_t));
    if (!ts || !post || !sig || !keys) {
        PyMem_Free(ts);
        PyMem_Free(post);
        PyMem_Free(sig);
        PyMem_Free(keys);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t n = 0; n < x->len; n++) {
        Py_ssize_t at = (x->head + n) % x->cap;
        ts[n] = x->ts[at];
        post[n] = x->post[at];
        memcpy(sig + n * x->values, x->sig + at * x->values, (size_t)x->values * 4);
        memcpy(keys + n * x->bands, x->keys + at * x->bands, (size_t)x->bands * 8);
    }
    for (Py_ssize_t i = 0; i < x->slots; i++)
        if (x->tpos[i] != EMPTY)
            x->tpos[i] = (uint32_t)(((Py_ssize_t)x->tpos[i] - x->head + x->cap) % x->cap);
    PyMem_Free(x->ts);
    PyMem_Free(x->post);
    PyMem_Free(x->sig);
    PyMem_Free(x->keys);
    x->ts = ts;
    x->post = post;
    x->sig = sig;
    x->keys = keys;
    x->cap = cap;
    x->head = 0;
    return 0;
}

/* The band keys of ``bands`` (a sequence of ints below 2**64) into out[0..x->bands). */
static int
read_keys_of(const BandIndex *x, PyObject *bands, uint64_t *out)
{
    PyObject *seq = PySequence_Fast(bands, "bands must be a sequence of ints");
    if (!seq)
        return -1;
    if (PySequence_Fast_GET_SIZE(seq) != x->bands) {
        PyErr_Format(PyExc_ValueError, "%zd band keys expected", x->bands);
        Py_DECREF(seq);
        return -1;
    }
    for (Py_ssize_t i = 0; i < x->bands; i++) {
        unsigned long long v = PyLong_AsUnsignedLongLong(PySequence_Fast_GET_ITEM(seq, i));
        if (v == (unsigned long long)-1 && PyErr_Occurred()) {
            Py_DECREF(seq);
            return -1;
        }
        out[i] = v;
    }
    Py_DECREF(seq);
    return 0;
}

/* read_keys_of, remembered for an exact tuple of exact ints (immutable all through). */
static int
read_keys(BandIndex *x, PyObject *bands, uint64_t *out)
{
    if (bands == x->last_bands) {
        memcpy(out, x->last_keys, (size_t)x->bands * sizeof(uint64_t));
        return 0;
    }
    if (read_keys_of(x, bands, out) < 0)
        return -1;
    if (!PyTuple_CheckExact(bands))
        return 0;
    for (Py_ssize_t i = 0; i < x->bands; i++)
        if (!PyLong_CheckExact(PyTuple_GET_ITEM(bands, i)))
            return 0;
    if (!x->last_keys) {
        x->last_keys = PyMem_Malloc((size_t)x->bands * sizeof(uint64_t));
        if (!x->last_keys)
            return 0;  /* only the memo is missing */
    }
    memcpy(x->last_keys, out, (size_t)x->bands * sizeof(uint64_t));
    Py_INCREF(bands);
    Py_XSETREF(x->last_bands, bands);
    return 0;
}

static int
read_signature(const BandIndex *x, PyObject *obj, Py_buffer *view)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    if (view->len != x->values * 4) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_ValueError, "signature must be %zd uint32 values", x->values);
        return -1;
    }
    return 0;
}

static int
add_one(BandIndex *x, double ts, long long post, const void *sig, const uint64_t *keys)
{
    if (grow_ring(x) < 0)
        return -1;
    /* At most two thirds full after this post's keys: probes stay short. */
    Py_ssize_t need = (x->used + x->bands) * 3 / 2 + 2;
    if (need > x->slots) {
        Py_ssize_t slots = x->slots ? x->slots : 256;
        while (slots < need)
            slots *= 2;
        if (rehash(x, slots) < 0)
            return -1;
    }
    Py_ssize_t at = (x->head + x->len) % x->cap;
    x->len++;
    x->ts[at] = ts;
    x->post[at] = post;
    memcpy(x->sig + at * x->values, sig, (size_t)x->values * 4);
    memcpy(x->keys + at * x->bands, keys, (size_t)x->bands * 8);
    for (Py_ssize_t b = 0; b < x->bands; b++)
        put(x, keys[b], (uint32_t)at);
    return 0;
}

/* add(post, ts, signature, bands) -> posts held */
static PyObject *
bi_add(BandIndex *x, PyObject *const *args, Py_ssize_t nargs)
{
    /* Vectorcall: PyArg_ParseTuple's tuple and format were a sixth of a lookup's cost. */
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "add() takes 4 arguments (%zd given)", nargs);
        return NULL;
    }
    long long post = PyLong_AsLongLong(args[0]);
    if (post == -1 && PyErr_Occurred())
        return NULL;
    double ts = PyFloat_AsDouble(args[1]);
    if (ts == -1.0 && PyErr_Occurred())
        return NULL;
    PyObject *sig_obj = args[2], *bands = args[3];
    uint64_t stack[64], *keys = x->bands <= 64 ? stack : PyMem_Malloc((size_t)x->bands * 8);
    if (!keys)
        return PyErr_NoMemory();
    Py_buffer sig;
    PyObject *result = NULL;
    if (read_keys(x, bands, keys) == 0 && read_signature(x, sig_obj, &sig) == 0) {
        if (add_one(x, ts, post, sig.buf, keys) == 0)
            result = PyLong_FromSsize_t(x->len);
        PyBuffer_Release(&sig);
    }
    if (keys != stack)
        PyMem_Free(keys);
    return result;
}

/* nearest(bands, signature, threshold) -> (post, similarity) or None */
static PyObject *
bi_nearest(BandIndex *x, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "nearest() takes 3 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *bands = args[0], *sig_obj = args[1];
    double threshold = PyFloat_AsDouble(args[2]);
    if (threshold == -1.0 && PyErr_Occurred())
        return NULL;
    uint64_t stack[64], *keys = x->bands <= 64 ? stack : PyMem_Malloc((size_t)x->bands * 8);
    long long sstack[64], *seen = x->bands <= 64 ? sstack : PyMem_Malloc((size_t)x->bands * 8);
    PyObject *result = NULL;
    Py_buffer sig;
    if (!keys || !seen) {
        PyErr_NoMemory();
        goto done;
    }
    if (read_keys(x, bands, keys) < 0 || read_signature(x, sig_obj, &sig) < 0)
        goto done;
    Py_ssize_t posts = 0;
    int found = 0;
    long long best = 0;
    double best_sim = 0.0;
    const char *mine = sig.buf;
    for (Py_ssize_t b = 0; b < x->bands; b++) {
        Py_ssize_t slot = x->slots ? find(x, keys[b]) : -1;
        if (slot < 0)
            continue;
        Py_ssize_t at = x->tpos[slot];
        long long id = x->post[at];
        int again = 0;
        for (Py_ssize_t j = 0; j < posts; j++)
            again |= seen[j] == id;
        if (again)
            continue;
        seen[posts++] = id;
        const char *theirs = (const char *)(x->sig + at * x->values);
        Py_ssize_t equal = 0;
        for (Py_ssize_t v = 0; v < x->values; v++)
            equal += memcmp(mine + 4 * v, theirs + 4 * v, 4) == 0;
        double sim = (double)equal / (double)x->values;
        if (sim >= threshold && (!found || sim > best_sim)) {
            found = 1;
            best = id;
            best_sim = sim;
        }
    }
    PyBuffer_Release(&sig);
    result = found ? Py_BuildValue("(Ld)", best, best_sim) : Py_NewRef(Py_None);
done:
    if (keys && keys != stack)
        PyMem_Free(keys);
    if (seen && seen != sstack)
        PyMem_Free(seen);
    return result;
}

/* expire(cutoff, max_posts) -> ids of the posts forgotten, oldest first */
static PyObject *
bi_expire(BandIndex *x, PyObject *args)
{
    double cutoff;
    Py_ssize_t max_posts;
    if (!PyArg_ParseTuple(args, "dn", &cutoff, &max_posts))
        return NULL;
    PyObject *gone = PyList_New(0);
    if (!gone)
        return NULL;
    while (x->len && (x->ts[x->head] <= cutoff || x->len > max_posts)) {
        Py_ssize_t at = x->head;
        PyObject *id = PyLong_FromLongLong(x->post[at]);
        if (!id || PyList_Append(gone, id) < 0) {
            Py_XDECREF(id);
            Py_DECREF(gone);
            return NULL;
        }
        Py_DECREF(id);
        for (Py_ssize_t b = 0; b < x->bands; b++) {
            Py_ssize_t slot = find(x, x->keys[at * x->bands + b]);
            if (slot >= 0 && x->tpos[slot] == (uint32_t)at)
                drop(x, slot);
        }
        x->head = (x->head + 1) % x->cap;
        x->len--;
    }
    return gone;
}

/* entries() -> [(created at, post, signature bytes, band keys)], oldest first */
static PyObject *
bi_entries(BandIndex *x, PyObject *Py_UNUSED(ignored))
{
    PyObject *out = PyList_New(x->len);
    if (!out)
        return NULL;
    for (Py_ssize_t n = 0; n < x->len; n++) {
        Py_ssize_t at = (x->head + n) % x->cap;
        PyObject *keys = PyTuple_New(x->bands);
        if (!keys) {
            Py_DECREF(out);
            return NULL;
        }
        for (Py_ssize_t b = 0; b < x->bands; b++) {
            PyObject *k = PyLong_FromUnsignedLongLong(x->keys[at * x->bands + b]);
            if (!k) {
                Py_DECREF(keys);
                Py_DECREF(out);
                return NULL;
            }
            PyTuple_SET_ITEM(keys, b, k);
        }
        PyObject *item = Py_BuildValue("(dLy#N)", x->ts[at], x->post[at],
                                       (const char *)(x->sig + at * x->values),
                                       x->values * 4, keys);
        if (!item) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, n, item);
    }
    return out;
}

static PyObject *
bi_oldest(BandIndex *x, void *Py_UNUSED(closure))
{
    return PyFloat_FromDouble(x->len ? x->ts[x->head] : Py_HUGE_VAL);
}

static Py_ssize_t
bi_len(BandIndex *x)
{
    return x->len;
}

static int
bi_init(BandIndex *x, PyObject *args, PyObject *kwds)
{
    static char *names[] = {"values", "bands", NULL};
    Py_ssize_t values, bands;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "nn", names, &values, &bands))
        return -1;
    if (values < 1 || values > 65536 || bands < 1 || bands > 65536) {
        PyErr_SetString(PyExc_ValueError, "values and bands must be 1 to 65536");
        return -1;
    }
    if (x->cap || x->slots) {
        PyErr_SetString(PyExc_RuntimeError, "BandIndex is initialised once");
        return -1;
    }
    x->values = values;
    x->bands = bands;
    return 0;
}

static void
bi_dealloc(BandIndex *x)
{
    PyMem_Free(x->ts);
    PyMem_Free(x->post);
    PyMem_Free(x->sig);
    PyMem_Free(x->keys);
    PyMem_Free(x->tkey);
    PyMem_Free(x->tpos);
    PyMem_Free(x->last_keys);
    Py_XDECREF(x->last_bands);
    Py_TYPE(x)->tp_free((PyObject *)x);
}

static PyObject *
bi_sizeof(BandIndex *x, PyObject *Py_UNUSED(ignored))
{
    size_t n = sizeof(BandIndex) + (size_t)x->cap * (sizeof(double) + sizeof(long long) +
                                                     (size_t)x->values * 4 + (size_t)x->bands * 8) +
               (size_t)x->slots * (sizeof(uint64_t) + sizeof(uint32_t));
    return PyLong_FromSize_t(n);
}

static PyMethodDef bi_methods[] = {
    {"add", (PyCFunction)(void (*)(void))bi_add, METH_FASTCALL,
     "add(post, ts, signature, bands) -> posts held: post the latest holder of its bands"},
    {"nearest", (PyCFunction)(void (*)(void))bi_nearest, METH_FASTCALL,
     "nearest(bands, signature, threshold) -> (post, similarity) or None"},
    {"expire", (PyCFunction)bi_expire, METH_VARARGS,
     "expire(cutoff, max_posts) -> ids of the posts forgotten (created at or before cutoff, or "
     "beyond max_posts), oldest first"},
    {"entries", (PyCFunction)bi_entries, METH_NOARGS,
     "entries() -> [(created at, post, signature bytes, band keys)], oldest first"},
    {"__sizeof__", (PyCFunction)bi_sizeof, METH_NOARGS, "bytes held, arrays included"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef bi_getset[] = {
    {"oldest", (getter)bi_oldest, NULL, "creation time of the oldest post held (inf: none)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods bi_sequence = {.sq_length = (lenfunc)bi_len};

PyTypeObject BandIndexType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "socialpulse_native.BandIndex",
    .tp_doc = "BandIndex(values, bands): the LSH index of a window's posts in flat arrays "
              "(core.neardup.NearDuplicateIndex)",
    .tp_basicsize = sizeof(BandIndex),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)bi_init,
    .tp_dealloc = (destructor)bi_dealloc,
    .tp_methods = bi_methods,
    .tp_getset = bi_getset,
    .tp_as_sequence = &bi_sequence,
};
