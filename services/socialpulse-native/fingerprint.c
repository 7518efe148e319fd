/* socialpulse_native: the near-duplicate fingerprint of a batch of texts, compiled (and the
 * module, whose other function, the trend terms, is in terms.c).
 *
 * Bit-identical to socialpulse.core.neardup.MinHasher._compute_python: each text lowered by
 * its own str.lower, URLs and handles dropped as ``neardup._LINKS`` matches them, the letters
 * kept (Py_UNICODE_ISALPHA is what str.isalpha calls) and their runs joined by single spaces,
 * encoded UTF-8 and padded to one shingle; every k-byte window hashed (FNV prime polynomial,
 * mod 2^64) and folded to 32 bits; per hash function the least a*h + b mod 2^32; band keys as
 * in Python.
 */
#include "links.h"
#include <stdint.h>
#include <string.h>

static const uint64_t PRIME = 1099511628211ULL;
PyObject *lower;  /* the interned name "lower" */

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

/* Normalise one lowered text: links and handles dropped, letter runs joined by one space, as
 * UCS4 and as UTF-8. */
static Py_ssize_t
normalise(PyObject *text, Py_UCS4 *out, unsigned char *utf8, Py_ssize_t *utf8_len)
{
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), len = 0, u = 0;
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

/* The least a*f + b (mod 2^32) over the folded shingles: one loop the compiler vectorises. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))  /* chosen at load time by the CPU */
#endif
static uint32_t
min_hash(const uint32_t *restrict folded, Py_ssize_t count, uint32_t a, uint32_t b)
{
    uint32_t least = UINT32_MAX;
    for (Py_ssize_t s = 0; s < count; s++) {
        uint32_t v = a * folded[s] + b;
        least = v < least ? v : least;
    }
    return least;
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
    Py_UCS4 *ucs = NULL;
    unsigned char *utf8 = NULL;
    uint32_t *folded = NULL;
    Py_ssize_t hashes = bands * rows;
    if (k < 1 || bands < 1 || rows < 1 || a.len != hashes * 4 || b.len != hashes * 4) {
        PyErr_SetString(PyExc_ValueError, "shingle, bands, rows and a, b disagree");
        goto done;
    }
    seq = PySequence_Fast(texts, "texts must be a sequence");
    if (!seq)
        goto done;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq), longest = 0;
    for (Py_ssize_t t = 0; t < count; t++) {
        PyObject *text = PySequence_Fast_GET_ITEM(seq, t);
        if (!PyUnicode_Check(text)) {
            PyErr_SetString(PyExc_TypeError, "texts must be str");
            goto done;
        }
        if (PyUnicode_GET_LENGTH(text) > longest)
            longest = PyUnicode_GET_LENGTH(text);
    }
    longest *= 3;  /* str.lower's full case mappings give at most three characters each */
    ucs = PyMem_Malloc((size_t)(longest + 1) * sizeof(Py_UCS4));
    utf8 = PyMem_Malloc((size_t)(longest * 4 + k + 1));
    folded = PyMem_Malloc((size_t)(longest * 4 + k + 1) * sizeof(uint32_t));
    norms = PyList_New(count);
    sigs = PyByteArray_FromStringAndSize(NULL, count * hashes * 4);
    keys = PyList_New(count);
    if (!ucs || !utf8 || !folded || !norms || !sigs || !keys) {
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        goto done;
    }
    const uint32_t *av = a.buf, *bv = b.buf;
    uint32_t *signatures = (uint32_t *)PyByteArray_AS_STRING(sigs);
    for (Py_ssize_t t = 0; t < count; t++) {
        Py_ssize_t u;
        PyObject *low = PyObject_CallMethodNoArgs(PySequence_Fast_GET_ITEM(seq, t), lower);
        if (!low)
            goto done;
        if (PyUnicode_GET_LENGTH(low) > longest) {
            Py_DECREF(low);
            PyErr_SetString(PyExc_ValueError, "lower() lengthened a text more than 3 times");
            goto done;
        }
        Py_ssize_t len = normalise(low, ucs, utf8, &u);
        Py_DECREF(low);
        PyObject *norm = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, ucs, len);
        if (!norm)
            goto done;
        PyList_SET_ITEM(norms, t, norm);
        while (u < k)
            utf8[u++] = 0;
        uint32_t *mins = signatures + t * hashes;
        Py_ssize_t shingles = u - k + 1;
        for (Py_ssize_t s = 0; s < shingles; s++) {
            uint64_t h = utf8[s];
            for (Py_ssize_t j = 1; j < k; j++)
                h = h * PRIME + utf8[s + j];
            folded[s] = (uint32_t)(h ^ (h >> 32));
        }
        for (Py_ssize_t i = 0; i < hashes; i++)
            mins[i] = min_hash(folded, shingles, av[i], bv[i]);
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
    PyMem_Free(ucs);
    PyMem_Free(utf8);
    PyMem_Free(folded);
    Py_XDECREF(seq);
    Py_XDECREF(norms);
    Py_XDECREF(sigs);
    Py_XDECREF(keys);
    return result;
}

static PyMethodDef methods[] = {
    {"terms", terms, METH_VARARGS,
     "terms(text, stop) -> the distinct trend terms of text, stop-words out (core.terms)"},
    {"fingerprints", fingerprints, METH_VARARGS,
     "fingerprints(texts, shingle, a, b, bands, rows) -> (norms, signatures, band keys)\n\n"
     "texts lowered and unlinked; a, b the hash functions' uint32 multipliers and offsets;\n"
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
    lower = PyUnicode_InternFromString("lower");
    return lower ? PyModule_Create(&module) : NULL;
}
