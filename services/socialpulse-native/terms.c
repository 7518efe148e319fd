/* The trend terms of one mention text, compiled: socialpulse.core.terms.Tokeniser's, exactly.
 *
 * The text lowered by str.lower (a subclass's own lower is never called), links dropped as
 * ``terms._URL`` matches them, split into pieces of the characters a token may hold
 * (``_Wordish``: Py_UNICODE_ISALNUM, '_', '#', '@', '\''), each piece's tokens as
 * ``terms._TOKEN`` finds them (``[#@]?[^\W\d_][\w']*|[#@]\w+`` with sre's \w = ISALNUM or '_'
 * and \d = Py_UNICODE_ISDECIMAL), kept as ``piece_terms`` keeps them, distinct in first-seen
 * order.
 */
#include "links.h"

#define MAX_TERM_CHARS 64

static int
is_word(Py_UCS4 c)
{
    return c < 0x80 ? ((c | 0x20) - 'a' < 26 || c - '0' < 10 || c == '_')
                    : (Py_UNICODE_ISALNUM(c) != 0);
}

/* [^\W\d_]: a word character that is neither a decimal digit nor '_'. */
static int
is_letterish(Py_UCS4 c)
{
    return c < 0x80 ? (c | 0x20) - 'a' < 26 : (Py_UNICODE_ISALNUM(c) && !Py_UNICODE_ISDECIMAL(c));
}

static int
is_wordish(Py_UCS4 c)
{
    return is_word(c) || c == '#' || c == '@' || c == '\'';
}

/* What one text's pieces share: the lowered text, the stop list and the terms so far. */
typedef struct {
    PyObject *low, *stop, *seen, *out;
} Terms;

/* Keep the token p[0..n), at ``at`` in the lowered text, as piece_terms does; 0 on success, -1
 * with an exception set. */
static int
keep(const Py_UCS4 *p, Py_ssize_t n, Py_ssize_t at, Terms *t)
{
    if (n < 2 || n > MAX_TERM_CHARS)
        return 0;
    int tagged = p[0] == '#' || p[0] == '@';
    if (tagged) {
        if (n < 3)
            return 0;
    } else {
        while (n && p[n - 1] == '\'')  /* a token starts with a letter: only its end strips */
            n--;
        if (n < 2)
            return 0;
    }
    PyObject *tok = PyUnicode_Substring(t->low, at, at + n);  /* a copy in the text's own kind */
    if (!tok)
        return -1;
    int skip = tagged ? 0 : PySet_Contains(t->stop, tok);
    if (skip == 0) {
        /* One probe of the terms so far, not a lookup then an insert: new when the set grew. */
        Py_ssize_t before = PySet_GET_SIZE(t->seen);
        if (PySet_Add(t->seen, tok) < 0)
            skip = -1;
        else if (PySet_GET_SIZE(t->seen) > before && PyList_Append(t->out, tok) < 0)
            skip = -1;
    }
    Py_DECREF(tok);
    return skip < 0 ? -1 : 0;
}

/* The tokens of one piece p[0..m), at ``at`` in the lowered text, as _TOKEN.findall finds them. */
static int
piece(const Py_UCS4 *p, Py_ssize_t m, Py_ssize_t at, Terms *t)
{
    Py_ssize_t j = 0;
    while (j < m) {
        Py_UCS4 c = p[j];
        Py_ssize_t k = (c == '#' || c == '@') ? j + 1 : j, e;
        if (k < m && is_letterish(p[k])) {
            for (e = k + 1; e < m && (is_word(p[e]) || p[e] == '\''); e++)
                ;
        } else if (k == j + 1 && k < m && is_word(p[k])) {
            for (e = k + 1; e < m && is_word(p[e]); e++)
                ;
        } else {
            j++;
            continue;
        }
        if (keep(p + j, e - j, at + j, t) < 0)
            return -1;
        j = e;
    }
    return 0;
}

PyObject *
terms(PyObject *self, PyObject *args)
{
    PyObject *text, *stop;
    if (!PyArg_ParseTuple(args, "UO!", &text, &PyFrozenSet_Type, &stop))
        return NULL;
    PyObject *low = PyObject_CallOneArg(str_lower, text);
    if (!low)
        return NULL;
    PyObject *result = NULL, *seen = PySet_New(NULL), *out = PyList_New(0);
    Py_ssize_t n = PyUnicode_GET_LENGTH(low), m = 0;
    Py_UCS4 *buf = n < PY_SSIZE_T_MAX / (Py_ssize_t)sizeof(Py_UCS4)
                       ? PyMem_Malloc((size_t)(n + 1) * sizeof(Py_UCS4))
                       : NULL;
    if (!seen || !out || !buf) {
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        goto done;
    }
    int kind = PyUnicode_KIND(low);
    const void *data = PyUnicode_DATA(low);
    for (Py_ssize_t i = 0; i <= n; i++) {
        Py_UCS4 c = i < n ? PyUnicode_READ(kind, data, i) : ' ';
        Py_ssize_t end = (c == 'h' || c == 'w') ? link_end(kind, data, n, i, 0) : i;
        if (end == i && is_wordish(c)) {
            buf[m++] = c;
            continue;
        }
        if (m) {
            Terms t = {low, stop, seen, out};
            if (piece(buf, m, i - m, &t) < 0)
                goto done;
        }
        m = 0;
        if (end > i)
            i = end - 1;
    }
    result = PyList_AsTuple(out);
done:
    PyMem_Free(buf);
    Py_DECREF(low);
    Py_XDECREF(seen);
    Py_XDECREF(out);
    return result;
}
