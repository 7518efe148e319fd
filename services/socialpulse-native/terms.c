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
#include <stdint.h>

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

/* Terms met before, by their characters: the same str object each time, with its hash cached
 * and whether it is in a stop list (the last list asked of it, held by reference so its
 * address is never another's). A text's repeated words are then one probe each, no string
 * made, hashed or looked up in the stop list again, and a text's terms are told apart by
 * identity. Bounded: emptied at a call's start once three quarters full (about 5 MB at most). */
#define CACHE_SLOTS (1 << 15)
#define CACHE_HELD (CACHE_SLOTS / 4 * 3)
#define KEPT_LINEAR 64  /* terms of a text told apart by a scan up to this many, then a set */

typedef struct {
    PyObject *term;  /* NULL: an empty slot */
    PyObject *stop;  /* the stop list ``is_stop`` answers for (NULL: none asked yet) */
    uint64_t hash;
    int is_stop;
} Slot;

static Slot *cache;
static Py_ssize_t cache_used;
static int cache_busy;  /* a call is running: a nested one (code run by a lookup) skips the cache */

static void
cache_clear(void)
{
    for (Py_ssize_t i = 0; i < CACHE_SLOTS; i++) {
        Py_CLEAR(cache[i].term);
        Py_CLEAR(cache[i].stop);
    }
    cache_used = 0;
}

static uint64_t
chars_hash(const Py_UCS4 *p, Py_ssize_t n)
{
    uint64_t h = 14695981039346656037ULL;
    for (Py_ssize_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

static int
same_chars(PyObject *term, const Py_UCS4 *p, Py_ssize_t n)
{
    if (PyUnicode_GET_LENGTH(term) != n)
        return 0;
    int kind = PyUnicode_KIND(term);
    const void *data = PyUnicode_DATA(term);
    for (Py_ssize_t i = 0; i < n; i++)
        if (PyUnicode_READ(kind, data, i) != p[i])
            return 0;
    return 1;
}

/* What one text's pieces share: the stop list, the terms kept so far (new references). */
typedef struct {
    PyObject *stop, *seen;  /* ``seen``: a set of ``kept``, made past KEPT_LINEAR or uncached */
    PyObject **kept;
    Py_ssize_t count, held;
    int use_cache;
} Terms;

/* Whether tok (cached: unique by its characters while the call runs) is among the kept terms;
 * 1, 0, or -1 with an exception set. */
static int
kept_already(Terms *t, PyObject *tok, int cached)
{
    if (cached && t->count <= KEPT_LINEAR && !t->seen) {
        for (Py_ssize_t i = 0; i < t->count; i++)
            if (t->kept[i] == tok)
                return 1;
        return 0;
    }
    if (!t->seen) {
        t->seen = PySet_New(NULL);
        if (!t->seen)
            return -1;
        for (Py_ssize_t i = 0; i < t->count; i++)
            if (PySet_Add(t->seen, t->kept[i]) < 0)
                return -1;
    }
    return PySet_Contains(t->seen, tok);
}

static int
append(Terms *t, PyObject *tok)
{
    if (t->count == t->held) {
        Py_ssize_t grown = t->held ? 2 * t->held : 16;
        PyObject **bigger = PyMem_Realloc(t->kept, (size_t)grown * sizeof(PyObject *));
        if (!bigger) {
            PyErr_NoMemory();
            return -1;
        }
        t->kept = bigger;
        t->held = grown;
    }
    Py_INCREF(tok);
    t->kept[t->count++] = tok;
    if (t->seen && PySet_Add(t->seen, tok) < 0)
        return -1;
    return 0;
}

/* Keep the token p[0..n) as piece_terms does; 0 on success, -1 with an exception set. */
static int
keep(const Py_UCS4 *p, Py_ssize_t n, Terms *t)
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
    Slot *slot = NULL;
    PyObject *tok;
    if (t->use_cache) {
        uint64_t h = chars_hash(p, n);
        for (size_t i = (size_t)h & (CACHE_SLOTS - 1);; i = (i + 1) & (CACHE_SLOTS - 1)) {
            Slot *s = &cache[i];
            if (!s->term) {
                if (cache_used < CACHE_SLOTS - 1) {  /* a free slot always ends a probe */
                    s->term = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, p, n);
                    if (!s->term)
                        return -1;
                    s->hash = h;
                    cache_used++;
                    slot = s;
                }
                break;
            }
            if (s->hash == h && same_chars(s->term, p, n)) {
                slot = s;
                break;
            }
        }
    }
    if (slot) {
        tok = slot->term;
        Py_INCREF(tok);
    } else {
        tok = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, p, n);
        if (!tok)
            return -1;
    }
    int skip = 0;
    if (!tagged) {
        if (slot && slot->stop == t->stop) {
            skip = slot->is_stop;
        } else {
            skip = PySet_Contains(t->stop, tok);
            if (slot && skip >= 0) {
                Py_INCREF(t->stop);
                Py_XSETREF(slot->stop, t->stop);
                slot->is_stop = skip;
            }
        }
    }
    if (skip == 0) {
        skip = kept_already(t, tok, slot != NULL);
        if (skip == 0 && append(t, tok) < 0)
            skip = -1;
    }
    Py_DECREF(tok);
    return skip < 0 ? -1 : 0;
}

/* The tokens of one piece p[0..m), as _TOKEN.findall finds them. */
static int
piece(const Py_UCS4 *p, Py_ssize_t m, Terms *t)
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
        if (keep(p + j, e - j, t) < 0)
            return -1;
        j = e;
    }
    return 0;
}

/* Whether args[0..nargs) are ``expected`` objects of the types given (NULL: any); else
 * TypeError. The vectorcall arguments are checked here: PyArg_ParseTuple's tuple and format
 * cost as much as counting a mention's terms. */
static int
arguments(const char *name, PyObject *const *args, Py_ssize_t nargs, Py_ssize_t expected,
          PyTypeObject *const *types)
{
    if (nargs != expected) {
        PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments (%zd given)", name, expected,
                     nargs);
        return 0;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) {
        if (types[i] && !PyObject_TypeCheck(args[i], types[i])) {
            PyErr_Format(PyExc_TypeError, "%s() argument %zd must be %s, not %s", name, i + 1,
                         types[i]->tp_name, Py_TYPE(args[i])->tp_name);
            return 0;
        }
    }
    return 1;
}

PyObject *
terms(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    static PyTypeObject *const types[] = {&PyUnicode_Type, &PyFrozenSet_Type};
    if (!arguments("terms", args, nargs, 2, types))
        return NULL;
    PyObject *text = args[0], *stop = args[1];
    if (!cache) {
        cache = PyMem_Calloc(CACHE_SLOTS, sizeof(Slot));
        if (!cache)
            return PyErr_NoMemory();
    }
    Terms t = {stop, NULL, NULL, 0, 0, !cache_busy};
    if (t.use_cache && cache_used >= CACHE_HELD)
        cache_clear();
    PyObject *low = NULL, *result = NULL;
    Py_UCS4 *buf = NULL, *lowered = NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), m = 0;
    lowered = n < PY_SSIZE_T_MAX / (Py_ssize_t)sizeof(Py_UCS4)
                  ? PyMem_Malloc((size_t)(n + 1) * sizeof(Py_UCS4))
                  : NULL;
    if (!lowered) {
        PyErr_NoMemory();
        goto done;
    }
    Lowered text_lowered;
    if (lower_text(text, lowered, &text_lowered) < 0)
        goto done;
    low = text_lowered.low;
    n = text_lowered.n;
    int kind = text_lowered.kind;
    const void *data = text_lowered.data;
    buf = n < PY_SSIZE_T_MAX / (Py_ssize_t)sizeof(Py_UCS4)
              ? PyMem_Malloc((size_t)(n + 1) * sizeof(Py_UCS4))
              : NULL;
    if (!buf) {
        PyErr_NoMemory();
        goto done;
    }
    cache_busy += t.use_cache;
    for (Py_ssize_t i = 0; i <= n; i++) {
        Py_UCS4 c = i < n ? PyUnicode_READ(kind, data, i) : ' ';
        Py_ssize_t end = (c == 'h' || c == 'w') ? link_end(kind, data, n, i, 0) : i;
        if (end == i && is_wordish(c)) {
            buf[m++] = c;
            continue;
        }
        if (m && piece(buf, m, &t) < 0) {
            cache_busy -= t.use_cache;
            goto done;
        }
        m = 0;
        if (end > i)
            i = end - 1;
    }
    cache_busy -= t.use_cache;
    result = PyTuple_New(t.count);
    if (result) {
        for (Py_ssize_t i = 0; i < t.count; i++)
            PyTuple_SET_ITEM(result, i, t.kept[i]);  /* the references move to the tuple */
        t.count = 0;
    }
done:
    for (Py_ssize_t i = 0; i < t.count; i++)
        Py_DECREF(t.kept[i]);
    PyMem_Free(t.kept);
    Py_XDECREF(t.seen);
    PyMem_Free(buf);
    PyMem_Free(lowered);
    Py_XDECREF(low);
    return result;
}

/* count_terms(counts, terms, excluded) -> len(counts): core.trends.Bucket.add's loop, compiled. */
PyObject *
count_terms(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    static PyTypeObject *const types[] = {&PyDict_Type, &PyTuple_Type, &PyFrozenSet_Type};
    if (!arguments("count_terms", args, nargs, 3, types))
        return NULL;
    PyObject *counts = args[0], *seq = args[1], *excluded = args[2];
    Py_INCREF(seq);  /* held: a term's __eq__ or __hash__ (a str subclass) may run code */
    Py_ssize_t n = PyTuple_GET_SIZE(seq);
    int any_excluded = PySet_GET_SIZE(excluded) > 0;
    PyObject *result = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *term = PyTuple_GET_ITEM(seq, i);
        if (any_excluded) {
            int skip = PySet_Contains(excluded, term);
            if (skip < 0)
                goto done;
            if (skip)
                continue;
        }
        PyObject *old = PyDict_GetItemWithError(counts, term);  /* borrowed */
        long before = 0;
        if (old) {
            before = PyLong_AsLong(old);
            if (before == -1 && PyErr_Occurred())
                goto done;
        } else if (PyErr_Occurred()) {
            goto done;
        }
        PyObject *value = PyLong_FromLong(before + 1);
        if (!value)
            goto done;
        int failed = PyDict_SetItem(counts, term, value);
        Py_DECREF(value);
        if (failed < 0)
            goto done;
    }
    result = PyLong_FromSsize_t(PyDict_GET_SIZE(counts));
done:
    Py_DECREF(seq);
    return result;
}
