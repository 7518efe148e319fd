/* What fingerprint.c, terms.c and bandindex.c share: the link scanner, str.lower, the functions. */
#ifndef SOCIALPULSE_NATIVE_LINKS_H
#define SOCIALPULSE_NATIVE_LINKS_H
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* The module's API version (its attribute ``API``): socialpulse (core/native.py) uses a build
 * only when it matches, so an installed build older than the Python code is never called. */
#define SOCIALPULSE_NATIVE_API 3

/* The end of a link (or, with ``handles``, an @handle) starting at i of a lowered text, else i:
 * ``(?:https?://|www\.)\S+`` (``terms._URL``), with ``|@\w+`` ``neardup._LINKS``; sre's \S is
 * not Py_UNICODE_ISSPACE, its \w is Py_UNICODE_ISALNUM or '_'. */
Py_ssize_t link_end(int kind, const void *data, Py_ssize_t n, Py_ssize_t i, int handles);

extern PyObject *str_lower;  /* str.lower: a str subclass's own lower is never called */

/* A text lowered as str.lower lowers it: its characters (kind, data, n), and ``low``, the str
 * holding them when str.lower made one (a new reference), else NULL. */
typedef struct {
    PyObject *low;
    int kind;
    const void *data;
    Py_ssize_t n;
} Lowered;

/* Lower ``text`` into ``out``: into buf (room for len(text) characters) when no character but
 * an ASCII capital changes case, which is most posts (ASCII, emoji, lower-case letters);
 * else by str.lower itself (its full mappings and the final sigma depend on more than one
 * character). Reads the str's own characters, never a method of a subclass. 0, or -1 with
 * an exception set. */
int lower_text(PyObject *text, Py_UCS4 *buf, Lowered *out);

/* BandIndex(values, bands): core.neardup's LSH index in flat arrays (bandindex.c). */
extern PyTypeObject BandIndexType;

/* terms(text, stop): core.terms.Tokeniser's terms of one text. */
PyObject *terms(PyObject *self, PyObject *const *args, Py_ssize_t nargs);

/* count_terms(counts, terms, excluded): core.trends.Bucket.add's counting of one mention. */
PyObject *count_terms(PyObject *self, PyObject *const *args, Py_ssize_t nargs);

#endif
