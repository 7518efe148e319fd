/* socialpulse_native: the near-duplicate fingerprint of a batch of texts, compiled (and the
 * module, whose other parts are the trend terms, terms.c, and the LSH index, bandindex.c).
 *
 * Bit-identical to socialpulse.core.neardup.MinHasher._compute_python: each text lowered as
 * str.lower lowers it (here when only ASCII capitals change, else by str.lower), URLs and handles dropped as ``neardup._LINKS`` matches them, the letters
 * kept (Py_UNICODE_ISALPHA is what str.isalpha calls) and their runs joined by single spaces,
 * encoded UTF-8 and padded to one shingle; every k-byte window hashed (FNV prime polynomial,
 * mod 2^64) and folded to 32 bits; per hash function the least a*h + b mod 2^32; band keys as
 * in Python.
 *
 * Untrusted text, and any arguments, are safe here: every text (a str subclass too) is lowered
 * from its own characters or by str.lower itself, never by a method of its own; the batch is copied to a tuple before any
 * code runs that could change it; the counts are bounded before they are multiplied, and the
 * buffers grow to each lowered text. tests/fuzz/fuzz_native.py fuzzes this under ASan + UBSan
 * against the Python code.
 */
#include "links.h"
#include <stdint.h>
#include <string.h>

static const uint64_t PRIME = 1099511628211ULL;
PyObject *str_lower;  /* str.lower, the method descriptor: a subclass's own lower is not called */

/* The bounds of fingerprints' counts: far above any use (settings allow 16, 64 and 16). */
#define MAX_SHINGLE 1024
#define MAX_HASHES 65536

/* Whether the lowered text has ``word`` (ASCII) at i. */
static int
has(int kind, const void *data, Py_ssize_t n, Py_ssize_t i, const char *word)
{
    for (; *word; word++, i++)
        if (i >= n || PyUnicode_READ(kind, data, i) != (Py_UCS4)*word)
            return 0;
    return 1;
}

Py_ssize_t
link_end(int kind, const void *data, Py_ssize_t n, Py_ssize_t i, int handles)
{
    Py_UCS4 c = PyUnicode_READ(kind, data, i);
    Py_ssize_t j;
    if (c == '@' && handles) {
        for (j = i + 1; j < n; j++) {
            Py_UCS4 w = PyUnicode_READ(kind, data, j);
            if (!(Py_UNICODE_ISALNUM(w) || w == '_'))
                break;
        }
        return j > i + 1 ? j : i;
    }
    if (c == 'h' && has(kind, data, n, i, "http://"))
        j = i + 7;
    else if (c == 'h' && has(kind, data, n, i, "https://"))
        j = i + 8;
    else if (c == 'w' && has(kind, data, n, i, "www."))
        j = i + 4;
    else
        return i;
    Py_ssize_t start = j;
    while (j < n && !Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, j)))
        j++;
    return j > start ? j : i;
}

/* text lowered into out[0..len(text)) when no character but an ASCII capital changes case
 * (Py_UNICODE_TOLOWER, the simple mapping, keeps every other one): 1; else 0. */
static int
lower_simply(PyObject *text, Py_UCS4 *out)
{
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c < 0x80)
            out[i] = c - 'A' < 26u ? c + 32 : c;
        else if (Py_UNICODE_TOLOWER(c) == c)
            out[i] = c;
        else
            return 0;
    }
    return 1;
}

int
lower_text(PyObject *text, Py_UCS4 *buf, Lowered *out)
{
    out->low = NULL;
    out->kind = PyUnicode_4BYTE_KIND;
    out->data = buf;
    out->n = PyUnicode_GET_LENGTH(text);
    if (lower_simply(text, buf))
        return 0;
    out->low = PyObject_CallOneArg(str_lower, text);
    if (!out->low)
        return -1;
    out->kind = PyUnicode_KIND(out->low);
    out->data = PyUnicode_DATA(out->low);
    out->n = PyUnicode_GET_LENGTH(out->low);
    return 0;
}

/* Normalise one lowered text data[0..n): links and handles dropped, letter runs joined by one
 * space, as UCS4 and as UTF-8. */
static Py_ssize_t
normalise(int kind, const void *data, Py_ssize_t n, Py_UCS4 *out, unsigned char *utf8,
          Py_ssize_t *utf8_len)
{
    Py_ssize_t len = 0, u = 0;
    int gap = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c == '@' || c == 'h' || c == 'w') {
            Py_ssize_t end = link_end(kind, data, n, i, 1);
            if (end > i) {
                gap = 1;
                i = end - 1;
                continue;
            }
        }
        if (c < 0x80 ? (Py_UCS4)((c | 0x20) - 'a') >= 26 : !Py_UNICODE_ISALPHA(c)) {
            gap = 1;
            continue;
        }
        if (gap && len) {
            out[len++] = ' ';
            utf8[u++] = ' ';
        }
        gap = 0;
        out[len++] = c;
        if (c < 0x80) {
            utf8[u++] = (unsigned char)c;
        } else if (c < 0x800) {
            utf8[u++] = (unsigned char)(0xC0 | (c >> 6));
            utf8[u++] = (unsigned char)(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            utf8[u++] = (unsigned char)(0xE0 | (c >> 12));
            utf8[u++] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
            utf8[u++] = (unsigned char)(0x80 | (c & 0x3F));
        } else {
            utf8[u++] = (unsigned char)(0xF0 | (c >> 18));
            utf8[u++] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
            utf8[u++] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
            utf8[u++] = (unsigned char)(0x80 | (c & 0x3F));
        }
    }
    *utf8_len = u;
    return len;
}

/* mins[i], for each of the ``hashes`` functions, the least a[i]*f + b[i] (mod 2^32) over the
 * folded shingles f. A block of 32 functions at a time over every shingle: its minima, a and b
 * stay in vector registers (4 AVX2 registers each), where one function at a time over the
 * shingles cost a loop per function, about twice the work. */
#define HASH_BLOCK 32
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))  /* chosen at load time by the CPU */
#endif
static void
min_hashes(const uint32_t *restrict folded, Py_ssize_t count, const uint32_t *restrict a,
           const uint32_t *restrict b, Py_ssize_t hashes, uint32_t *restrict mins)
{
    Py_ssize_t lo = 0;
    for (; lo + HASH_BLOCK <= hashes; lo += HASH_BLOCK) {
        uint32_t m[HASH_BLOCK], ba[HASH_BLOCK], bb[HASH_BLOCK];
        for (int i = 0; i < HASH_BLOCK; i++) {
            m[i] = UINT32_MAX;
            ba[i] = a[lo + i];
            bb[i] = b[lo + i];
        }
        for (Py_ssize_t s = 0; s < count; s++) {
            uint32_t f = folded[s];
            for (int i = 0; i < HASH_BLOCK; i++) {
                uint32_t v = ba[i] * f + bb[i];
                m[i] = v < m[i] ? v : m[i];
            }
        }
        memcpy(mins + lo, m, sizeof m);
    }
    for (; lo < hashes; lo++) {  /* the functions past the last whole block, one at a time */
        uint32_t least = UINT32_MAX;
        for (Py_ssize_t s = 0; s < count; s++) {
            uint32_t v = a[lo] * folded[s] + b[lo];
            least = v < least ? v : least;
        }
        mins[lo] = least;
    }
}

/* Grow *buf to hold n items of size each, keeping none of its contents; 0, or -1 with
 * MemoryError set. */
static int
reserve(void **buf, Py_ssize_t *held, Py_ssize_t n, size_t size)
{
    if (n <= *held)
        return 0;
    if ((size_t)n > (size_t)PY_SSIZE_T_MAX / size) {
        PyErr_NoMemory();
        return -1;
    }
    void *grown = PyMem_Malloc((size_t)n * size);
    if (!grown) {
        PyErr_NoMemory();
        return -1;
    }
    PyMem_Free(*buf);
    *buf = grown;
    *held = n;
    return 0;
}

/* fingerprints(texts, shingle, a, b, bands, rows) -> (norms, signatures, band keys) */
static PyObject *
fingerprints(PyObject *self, PyObject *args)
{
    PyObject *texts;
    Py_ssize_t k, bands, rows;
    Py_buffer a, b;
    if (!PyArg_ParseTuple(args, "Ony*y*nn", &texts, &k, &a, &b, &bands, &rows))
        return NULL;
    PyObject *result = NULL, *seq = NULL, *norms = NULL, *sigs = NULL, *keys = NULL;
    Py_UCS4 *ucs = NULL, *lowered = NULL;
    unsigned char *utf8 = NULL;
    uint32_t *folded = NULL, *av = NULL, *bv = NULL;
    Py_ssize_t held_ucs = 0, held_utf8 = 0, held_folded = 0, held_lowered = 0;
    /* Each bound checked before the product it keeps from overflowing. */
    if (k < 1 || k > MAX_SHINGLE || bands < 1 || bands > MAX_HASHES || rows < 1 ||
        rows > MAX_HASHES / bands) {
        PyErr_Format(PyExc_ValueError,
                     "shingle must be 1 to %d and bands x rows 1 to %d", MAX_SHINGLE, MAX_HASHES);
        goto done;
    }
    Py_ssize_t hashes = bands * rows;
    uint64_t lead = 1;  /* PRIME^(k-1) mod 2^64: the weight of a window's first byte */
    for (Py_ssize_t j = 1; j < k; j++)
        lead *= PRIME;
    if (a.len != hashes * 4 || b.len != hashes * 4) {
        PyErr_SetString(PyExc_ValueError, "shingle, bands, rows and a, b disagree");
        goto done;
    }
    /* The buffers may be misaligned views: copied into uint32 arrays. */
    av = PyMem_Malloc((size_t)hashes * sizeof(uint32_t));
    bv = PyMem_Malloc((size_t)hashes * sizeof(uint32_t));
    if (!av || !bv) {
        PyErr_NoMemory();
        goto done;
    }
    memcpy(av, a.buf, (size_t)a.len);
    memcpy(bv, b.buf, (size_t)b.len);
    seq = PySequence_Tuple(texts);  /* a copy: str.lower's allocations may run code (GC) */
    if (!seq)
        goto done;
    Py_ssize_t count = PyTuple_GET_SIZE(seq);
    for (Py_ssize_t t = 0; t < count; t++) {
        if (!PyUnicode_Check(PyTuple_GET_ITEM(seq, t))) {
            PyErr_SetString(PyExc_TypeError, "texts must be str");
            goto done;
        }
    }
    if (count > PY_SSIZE_T_MAX / (hashes * 4)) {
        PyErr_NoMemory();
        goto done;
    }
    norms = PyList_New(count);
    sigs = PyByteArray_FromStringAndSize(NULL, count * hashes * 4);
    keys = PyList_New(count);
    if (!norms || !sigs || !keys)
        goto done;
    uint32_t *signatures = (uint32_t *)PyByteArray_AS_STRING(sigs);
    for (Py_ssize_t t = 0; t < count; t++) {
        Py_ssize_t u;
        PyObject *text = PyTuple_GET_ITEM(seq, t), *low = NULL;
        /* Lowered here when only ASCII capitals change (most posts: lowering them through
         * str.lower was a third of this function's time), else by str.lower itself. */
        Py_ssize_t n = PyUnicode_GET_LENGTH(text);
        if (n > (PY_SSIZE_T_MAX - MAX_SHINGLE - 1) / 16) {
            PyErr_NoMemory();
            goto done;
        }
        Lowered lowered_text;
        if (reserve((void **)&lowered, &held_lowered, n + 1, sizeof(Py_UCS4)) < 0 ||
            lower_text(text, lowered, &lowered_text) < 0)
            goto done;
        low = lowered_text.low;
        n = lowered_text.n;
        int kind = lowered_text.kind;
        const void *data = lowered_text.data;
        /* The normalised text has at most n characters and 4n UTF-8 bytes, padded to k. */
        if (n > (PY_SSIZE_T_MAX - MAX_SHINGLE - 1) / 16) {
            Py_XDECREF(low);
            PyErr_NoMemory();
            goto done;
        }
        if (reserve((void **)&ucs, &held_ucs, n + 1, sizeof(Py_UCS4)) < 0 ||
            reserve((void **)&utf8, &held_utf8, 4 * n + k + 1, 1) < 0 ||
            reserve((void **)&folded, &held_folded, 4 * n + k + 1, sizeof(uint32_t)) < 0) {
            Py_XDECREF(low);
            goto done;
        }
        Py_ssize_t len = normalise(kind, data, n, ucs, utf8, &u);
        Py_XDECREF(low);
        PyObject *norm = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, ucs, len);
        if (!norm)
            goto done;
        PyList_SET_ITEM(norms, t, norm);
        while (u < k)
            utf8[u++] = 0;
        uint32_t *mins = signatures + t * hashes;
        Py_ssize_t shingles = u - k + 1;
        /* Each window's polynomial hash rolled from the last one's (the ring of integers mod
         * 2^64: the first byte's term taken away, the next byte's added), the same value as
         * hashing the k bytes afresh. */
        uint64_t h = 0;
        for (Py_ssize_t j = 0; j < k; j++)
            h = h * PRIME + utf8[j];
        for (Py_ssize_t s = 0;; s++) {
            folded[s] = (uint32_t)(h ^ (h >> 32));
            if (s + 1 >= shingles)
                break;
            h = (h - utf8[s] * lead) * PRIME + utf8[s + k];
        }
        min_hashes(folded, shingles, av, bv, hashes, mins);
        PyObject *tuple = PyTuple_New(bands);
        if (!tuple)
            goto done;
        PyList_SET_ITEM(keys, t, tuple);
        for (Py_ssize_t band = 0; band < bands; band++) {
            const uint32_t *row = mins + band * rows;
            uint64_t key = (uint64_t)(band + 1) * PRIME + row[0];
            for (Py_ssize_t j = 1; j < rows; j++)
                key = key * PRIME + row[j];
            PyObject *value = PyLong_FromUnsignedLongLong(key);
            if (!value)
                goto done;
            PyTuple_SET_ITEM(tuple, band, value);
        }
    }
    result = PyTuple_Pack(3, norms, sigs, keys);
done:
    PyBuffer_Release(&a);
    PyBuffer_Release(&b);
    PyMem_Free(av);
    PyMem_Free(bv);
    PyMem_Free(ucs);
    PyMem_Free(lowered);
    PyMem_Free(utf8);
    PyMem_Free(folded);
    Py_XDECREF(seq);
    Py_XDECREF(norms);
    Py_XDECREF(sigs);
    Py_XDECREF(keys);
    return result;
}

static PyMethodDef methods[] = {
    {"terms", (PyCFunction)(void (*)(void))terms, METH_FASTCALL,
     "terms(text, stop) -> the distinct trend terms of text, stop-words out (core.terms)"},
    {"count_terms", (PyCFunction)(void (*)(void))count_terms, METH_FASTCALL,
     "count_terms(counts, terms, excluded) -> len(counts): each term not excluded counted once"},
    {"fingerprints", fingerprints, METH_VARARGS,
     "fingerprints(texts, shingle, a, b, bands, rows) -> (norms, signatures, band keys)\n\n"
     "texts lowered (by str.lower) and unlinked; shingle 1 to 1024, bands x rows 1 to 65536;\n"
     "a, b the hash functions' uint32 multipliers and offsets (bands x rows each);\n"
     "signatures a bytearray of len(texts) x bands*rows native uint32."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "socialpulse_native",
    "Compiled hot loops of socialpulse's signals stage; the Python code is the reference.", -1,
    methods,
};

PyMODINIT_FUNC
PyInit_socialpulse_native(void)
{
    str_lower = PyObject_GetAttrString((PyObject *)&PyUnicode_Type, "lower");
    if (!str_lower)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    /* What socialpulse checks before using the module (core/native.py): bumped with every
       change to a function's signature or meaning, so a stale build is never called. */
    if (m && PyModule_AddIntConstant(m, "API", SOCIALPULSE_NATIVE_API) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    if (m && (PyType_Ready(&BandIndexType) < 0 ||
              PyModule_AddObjectRef(m, "BandIndex", (PyObject *)&BandIndexType) < 0)) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
