/* The LSH band lookup of one fingerprint, compiled: socialpulse.core.neardup's
 * NearDuplicateIndex._nearest_python, exactly.
 *
 * Each band key looked up in the index's band map (dict.get), the entries found kept in band
 * order (filter(None, ...)), each post compared once: the share of equal uint32 values of the
 * two signatures, the most similar at ``threshold`` or above, the first of equals winning.
 * Safe on any arguments: the bands are copied to a tuple and every entry found is held before
 * any code runs that could change the map; signatures are read as 4-byte groups (memcmp), so
 * a misaligned buffer is no unaligned read. Posts are the detector's counters: an int outside
 * int64 raises OverflowError.
 */
#include "links.h"
#include <string.h>

static PyObject *name_post, *name_signature;  /* the entries' attribute names, interned */

/* nearest(by_band, bands, signature, threshold) -> (post, similarity) or None */
PyObject *
nearest(PyObject *self, PyObject *args)
{
    if (!name_post && !(name_post = PyUnicode_InternFromString("post")))
        return NULL;
    if (!name_signature && !(name_signature = PyUnicode_InternFromString("signature")))
        return NULL;
    PyObject *by_band, *bands, *result = NULL, *seq = NULL, **found = NULL, *best = NULL;
    Py_buffer sig;
    double threshold, best_sim = 0.0;
    if (!PyArg_ParseTuple(args, "O!Oy*d", &PyDict_Type, &by_band, &bands, &sig, &threshold))
        return NULL;
    Py_ssize_t count = 0, posts = 0, values = sig.len / 4;
    long long *seen = NULL;
    if (sig.len % 4 || values == 0) {
        PyErr_SetString(PyExc_ValueError, "signature must be uint32 values");
        goto done;
    }
    seq = PySequence_Tuple(bands);
    if (!seq)
        goto done;
    Py_ssize_t n = PyTuple_GET_SIZE(seq);
    found = PyMem_Calloc((size_t)n + 1, sizeof(PyObject *));
    seen = PyMem_Calloc((size_t)n + 1, sizeof(long long));
    if (!found || !seen) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *entry = PyDict_GetItemWithError(by_band, PyTuple_GET_ITEM(seq, i));
        if (!entry) {
            if (PyErr_Occurred())
                goto done;
            continue;
        }
        Py_INCREF(entry);  /* held: what runs below may change the map */
        found[count++] = entry;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        int truth = PyObject_IsTrue(found[i]);
        if (truth < 0)
            goto done;
        if (!truth)
            continue;
        PyObject *post = PyObject_GetAttr(found[i], name_post);
        if (!post)
            goto done;
        long long id = PyLong_AsLongLong(post);
        if (id == -1 && PyErr_Occurred()) {
            Py_DECREF(post);
            goto done;
        }
        int again = 0;
        for (Py_ssize_t j = 0; j < posts; j++)
            again |= seen[j] == id;
        if (again) {
            Py_DECREF(post);
            continue;
        }
        seen[posts++] = id;
        PyObject *other = PyObject_GetAttr(found[i], name_signature);
        Py_buffer theirs;
        if (!other || PyObject_GetBuffer(other, &theirs, PyBUF_C_CONTIGUOUS) < 0) {
            Py_XDECREF(other);
            Py_DECREF(post);
            goto done;
        }
        Py_DECREF(other);
        if (theirs.len != sig.len || theirs.itemsize != 4) {
            PyBuffer_Release(&theirs);
            Py_DECREF(post);
            PyErr_SetString(PyExc_ValueError, "signatures of different lengths");
            goto done;
        }
        const char *a = sig.buf, *b = theirs.buf;
        Py_ssize_t equal = 0;
        for (Py_ssize_t v = 0; v < values; v++)
            equal += memcmp(a + 4 * v, b + 4 * v, 4) == 0;
        PyBuffer_Release(&theirs);
        double sim = (double)equal / (double)values;
        if (sim >= threshold && (!best || sim > best_sim)) {
            Py_XSETREF(best, post);
            best_sim = sim;
        } else {
            Py_DECREF(post);
        }
    }
    result = best ? Py_BuildValue("(Od)", best, best_sim) : Py_NewRef(Py_None);
done:
    PyBuffer_Release(&sig);
    for (Py_ssize_t i = 0; i < count; i++)
        Py_DECREF(found[i]);
    PyMem_Free(found);
    PyMem_Free(seen);
    Py_XDECREF(best);
    Py_XDECREF(seq);
    return result;
}
