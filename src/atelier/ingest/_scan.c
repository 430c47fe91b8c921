/* Compiled per-row passes of the event ingest, over Arrow large_string columns (see scan.py, their Python face).
 *
 * polars runs each cleaning step as its own pass over a column (30-150 ns a row each); these do the steps that
 * cost the most in one tight loop each, with the GIL released. Those with a polars twin are exact for the
 * inputs they accept and say so per row, so that the caller can hand anything unusual to the general path:
 *
 *   rule_index      (event_name, button_name) -> index of the most specific interaction rule, or -1;
 *   iso_timestamps  "YYYY-MM-DD[ T]HH:MM:SS[Z]" -> microseconds since 1970 (other text is left to the caller);
 *   find_runs       maximal runs of bytes of one ASCII class, at least N long (the ids of "[a-f0-9]{32,}"),
 *                   lower-cased, as the offsets and values of an Arrow list<large_string>;
 *   trim_views      values with white space stripped, as Arrow string views into the same bytes;
 *   row_hashes      a keyed 64-bit hash of whole rows (exact-duplicate detection);
 *   seen_insert, seen_rehash   an open-addressing set of 64-bit hashes: which rows are new;
 *   is_ascii        the CSV reader's quick check of text before a full UTF-8 validation.
 *
 * A column is passed as a tuple (validity or None, offsets, data or None, offset, length): the buffers of a
 * pyarrow LargeStringArray. The arrays come from pyarrow and are trusted to be valid Arrow (offsets that do not
 * go backwards); what is checked here is that the buffers are as long as the offsets at the ends say.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* -- columns ---------------------------------------------------------------------------------------------- */

typedef struct {
    Py_buffer valid, offsets, data;
    int has_valid, has_data;
    const uint8_t *bits;
    const int64_t *offs;
    const char *bytes;
    Py_ssize_t offset, length;
} Column;

static void column_release(Column *c) {
    if (c->has_valid) PyBuffer_Release(&c->valid);
    if (c->has_data) PyBuffer_Release(&c->data);
    if (c->offs) PyBuffer_Release(&c->offsets);
    c->has_valid = c->has_data = 0;
    c->offs = NULL;
}

static int column_fail(Column *c, const char *message) {
    column_release(c);
    if (message) PyErr_SetString(PyExc_ValueError, message);
    return 0;
}

/* The buffer of obj in view (*has set), or nothing when obj is None; 0 with an exception on failure. */
static int optional_buffer(PyObject *obj, Py_buffer *view, int *has) {
    if (obj == Py_None) return 1;
    if (PyObject_GetBuffer(obj, view, PyBUF_SIMPLE) < 0) return 0;
    *has = 1;
    return 1;
}

/* "O&" converter: fills a Column from (validity, offsets, data, offset, length). Returns Py_CLEANUP_SUPPORTED
 * so that Python releases the buffers again when a later argument fails. */
static int column_convert(PyObject *obj, void *out) {
    Column *c = (Column *)out;
    if (obj == NULL) {
        column_release(c);
        return 1;
    }
    PyObject *valid, *offsets, *data;
    memset(c, 0, sizeof(*c));
    if (!PyArg_ParseTuple(obj, "OOOnn", &valid, &offsets, &data, &c->offset, &c->length)) return 0;
    if (c->offset < 0 || c->length < 0 || c->offset > PY_SSIZE_T_MAX / 8 - c->length - 1)
        return column_fail(c, "offset or length out of range");
    if (PyObject_GetBuffer(offsets, &c->offsets, PyBUF_SIMPLE) < 0) return 0;
    c->offs = (const int64_t *)c->offsets.buf;
    if (!optional_buffer(valid, &c->valid, &c->has_valid) || !optional_buffer(data, &c->data, &c->has_data))
        return column_fail(c, NULL);
    c->bits = c->has_valid ? (const uint8_t *)c->valid.buf : NULL;
    c->bytes = c->has_data ? (const char *)c->data.buf : NULL;
    if ((size_t)c->offsets.len < (size_t)(c->offset + c->length + 1) * sizeof(int64_t))
        return column_fail(c, "offsets buffer too short for a large_string column");
    if (c->has_valid && c->valid.len * 8 < c->offset + c->length) return column_fail(c, "validity buffer too short");
    int64_t last = c->length ? c->offs[c->offset + c->length] : 0;
    int64_t first = c->length ? c->offs[c->offset] : 0;
    if (first < 0 || last < first || last > (c->has_data ? (int64_t)c->data.len : 0))
        return column_fail(c, "offsets point outside the data buffer");
    return Py_CLEANUP_SUPPORTED;
}

/* Value i: its bytes in [*start, *end); returns 0 when it is null. */
static inline int column_value(const Column *c, Py_ssize_t i, const char **start, const char **end) {
    Py_ssize_t j = c->offset + i;
    if (c->bits && !(c->bits[j >> 3] & (1u << (j & 7)))) return 0;
    *start = c->bytes + c->offs[j];
    *end = c->bytes + c->offs[j + 1];
    return 1;
}

static int writable(PyObject *obj, Py_buffer *view, Py_ssize_t items, Py_ssize_t item_size, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_WRITABLE) < 0) return 0;
    if (view->len < items * item_size) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_ValueError, "%s: buffer of %zd bytes, need %zd", what, view->len, items * item_size);
        return 0;
    }
    return 1;
}

/* -- Unicode whitespace (what polars' strip_chars() removes: Rust's char::is_whitespace) ---------------------- */

/* Length of the whitespace character starting at s (0: none). */
static inline int ws_at(const unsigned char *s, const unsigned char *end) {
    unsigned char b = s[0];
    if (b == ' ' || (b >= 0x09 && b <= 0x0D)) return 1;
    if (b == 0xC2 && end - s >= 2 && (s[1] == 0x85 || s[1] == 0xA0)) return 2;
    if (end - s >= 3) {
        if (b == 0xE1 && s[1] == 0x9A && s[2] == 0x80) return 3;                         /* U+1680 */
        if (b == 0xE2 && s[1] == 0x80 &&
            ((s[2] >= 0x80 && s[2] <= 0x8A) || s[2] == 0xA8 || s[2] == 0xA9 || s[2] == 0xAF))
            return 3;                                                    /* U+2000-200A, 2028, 2029, 202F */
        if (b == 0xE2 && s[1] == 0x81 && s[2] == 0x9F) return 3;                         /* U+205F */
        if (b == 0xE3 && s[1] == 0x80 && s[2] == 0x80) return 3;                         /* U+3000 */
    }
    return 0;
}

/* Length of the whitespace character ending just before end (0: none). */
static inline int ws_before(const unsigned char *start, const unsigned char *end) {
    Py_ssize_t n = end - start;
    unsigned char b = end[-1];
    if (b == ' ' || (b >= 0x09 && b <= 0x0D)) return 1;
    if (n >= 2 && end[-2] == 0xC2 && (b == 0x85 || b == 0xA0)) return 2;
    if (n >= 3 && ws_at(end - 3, end) == 3) return 3;
    return 0;
}

static inline void strip(const char **start, const char **end) {
    const unsigned char *s = (const unsigned char *)*start, *e = (const unsigned char *)*end;
    int k;
    while (s < e && (k = ws_at(s, e)) > 0) s += k;
    while (e > s && (k = ws_before(s, e)) > 0) e -= k;
    *start = (const char *)s;
    *end = (const char *)e;
}

/* -- rule_index ------------------------------------------------------------------------------------------- */

typedef struct {
    const char *event, *button;
    Py_ssize_t event_len, button_len;
    int kind; /* 0 exact pair, 1 any event with this button, 2 this event with any button, 3 none */
} Rule;

static inline int same(const char *a, Py_ssize_t a_len, const char *b, Py_ssize_t b_len) {
    return a_len == b_len && (a_len == 0 || memcmp(a, b, (size_t)a_len) == 0);
}

PyDoc_STRVAR(rule_index_doc,
"rule_index(event, button, rules, out) -> None\n\n"
"For each row, the index of the rule matching the stripped (event, button), most specific first: an exact pair\n"
"(a null value compares as ''), then any event with that button, then that event with any button; -1 where none\n"
"matches. Among equal rules the last wins. ``rules``: a sequence of (event bytes, button bytes, kind) with kind 0\n"
"(exact), 1 (any event), 2 (any button) or 3 (never matches). ``out``: a writable int32 buffer of the rows' length.");

static PyObject *rule_index(PyObject *self, PyObject *args) {
    Column event = {0}, button = {0};
    PyObject *rules_obj, *out_obj;
    if (!PyArg_ParseTuple(args, "O&O&OO", column_convert, &event, column_convert, &button, &rules_obj, &out_obj))
        return NULL;
    PyObject *result = NULL, *rules_seq = NULL;
    Rule *rules = NULL;
    Py_buffer out = {0};
    int have_out = 0;
    Py_ssize_t n = event.length;
    if (button.length != n) {
        PyErr_SetString(PyExc_ValueError, "event and button columns differ in length");
        goto done;
    }
    rules_seq = PySequence_Tuple(rules_obj); /* our own tuple: its bytes stay put while the GIL is released */
    if (!rules_seq) goto done;
    Py_ssize_t n_rules = PyTuple_GET_SIZE(rules_seq);
    rules = PyMem_Calloc((size_t)(n_rules ? n_rules : 1), sizeof(Rule));
    if (!rules) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t r = 0; r < n_rules; r++) {
        PyObject *item = PyTuple_GET_ITEM(rules_seq, r);
        Rule *rule = &rules[r];
        /* The bytes objects stay alive in rules_obj for the whole call. */
        if (!PyArg_ParseTuple(item, "y#y#i", &rule->event, &rule->event_len, &rule->button, &rule->button_len,
                              &rule->kind))
            goto done;
        if (rule->kind < 0 || rule->kind > 3) {
            PyErr_SetString(PyExc_ValueError, "rule kind must be 0, 1, 2 or 3");
            goto done;
        }
    }
    if (!writable(out_obj, &out, n, sizeof(int32_t), "out")) goto done;
    have_out = 1;
    int32_t *dst = (int32_t *)out.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        const char *es = "", *ee = es, *bs = "", *be = bs;
        int has_e = column_value(&event, i, &es, &ee);
        int has_b = column_value(&button, i, &bs, &be);
        if (has_e) strip(&es, &ee);
        if (has_b) strip(&bs, &be);
        int32_t found = -1;
        for (int kind = 0; kind <= 2 && found < 0; kind++) {
            if ((kind == 1 && !has_b) || (kind == 2 && !has_e)) continue;
            for (Py_ssize_t r = n_rules - 1; r >= 0; r--) {
                const Rule *rule = &rules[r];
                if (rule->kind != kind) continue;
                if (kind != 2 && !same(bs, be - bs, rule->button, rule->button_len)) continue;
                if (kind != 1 && !same(es, ee - es, rule->event, rule->event_len)) continue;
                found = (int32_t)r;
                break;
            }
        }
        dst[i] = found;
    }
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    if (have_out) PyBuffer_Release(&out);
    PyMem_Free(rules);
    Py_XDECREF(rules_seq);
    column_release(&event);
    column_release(&button);
    return result;
}

/* -- iso_timestamps --------------------------------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static inline int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static inline int digits(const unsigned char *s, int n, int *value) {
    int v = 0;
    for (int k = 0; k < n; k++) {
        unsigned d = (unsigned)s[k] - '0';
        if (d > 9) return 0;
        v = v * 10 + (int)d;
    }
    *value = v;
    return 1;
}

/* 1 and the time when s is exactly "YYYY-MM-DD HH:MM:SS" (or "T" for the space, an optional final "Z") and a
 * real calendar time of years 1-9999 with seconds 0-59; 0 for anything else. */
static inline int parse_iso(const unsigned char *s, Py_ssize_t n, int64_t *micros) {
    static const int month_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (n == 20 && s[19] == 'Z') n = 19;
    if (n != 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || s[16] != ':')
        return 0;
    int y, mo, d, h, mi, sec;
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) || !digits(s + 11, 2, &h) ||
        !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &sec))
        return 0;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59) return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > month_days[mo - 1] + (mo == 2 && leap)) return 0;
    int64_t seconds = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    *micros = seconds * 1000000;
    return 1;
}

PyDoc_STRVAR(iso_timestamps_doc,
"iso_timestamps(text, out, state) -> int\n\n"
"Parse each value that is exactly 'YYYY-MM-DD HH:MM:SS' ('T' for the space and a final 'Z' allowed) into\n"
"microseconds since 1970 (int64 ``out``). ``state`` (uint8) gets 0 for a null value, 1 for a parsed one and 2\n"
"for text left to the caller (any other layout, an impossible date, a leap second). Returns how many are 2.");

static PyObject *iso_timestamps(PyObject *self, PyObject *args) {
    Column text = {0};
    PyObject *out_obj, *state_obj;
    if (!PyArg_ParseTuple(args, "O&OO", column_convert, &text, &out_obj, &state_obj)) return NULL;
    Py_buffer out = {0}, state = {0};
    PyObject *result = NULL;
    Py_ssize_t n = text.length, left = 0;
    if (!writable(out_obj, &out, n, sizeof(int64_t), "out")) goto done;
    if (!writable(state_obj, &state, n, 1, "state")) {
        PyBuffer_Release(&out);
        goto done;
    }
    int64_t *dst = (int64_t *)out.buf;
    uint8_t *st = (uint8_t *)state.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        const char *s, *e;
        if (!column_value(&text, i, &s, &e)) {
            st[i] = 0;
            dst[i] = 0;
        } else if (parse_iso((const unsigned char *)s, e - s, &dst[i])) {
            st[i] = 1;
        } else {
            st[i] = 2;
            dst[i] = 0;
            left++;
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&out);
    PyBuffer_Release(&state);
    result = PyLong_FromSsize_t(left);
done:
    column_release(&text);
    return result;
}

/* -- find_runs -------------------------------------------------------------------------------------------- */

PyDoc_STRVAR(find_runs_doc,
"find_runs(text, rows, member, min_len, list_offsets, value_offsets, values) -> (n_values, n_bytes)\n\n"
"The maximal runs of bytes in ``member`` (256 bytes, non-zero for a byte of the class; ASCII only) at least\n"
"``min_len`` long in each value whose ``rows`` entry (int32) is >= 0, lower-cased: what the regex\n"
"'[class]{min_len,}' finds. Written as an Arrow list<large_string>: ``list_offsets`` (int64, rows + 1),\n"
"``value_offsets`` (int64) and ``values`` (bytes), whose sizes the caller bounds (see scan.py).");

static PyObject *find_runs(PyObject *self, PyObject *args) {
    Column text = {0};
    PyObject *rows_obj, *member_obj, *lists_obj, *voffs_obj, *values_obj;
    Py_ssize_t min_len;
    if (!PyArg_ParseTuple(args, "O&OOnOOO", column_convert, &text, &rows_obj, &member_obj, &min_len, &lists_obj,
                          &voffs_obj, &values_obj))
        return NULL;
    Py_buffer rows = {0}, member = {0}, lists = {0}, voffs = {0}, values = {0};
    int got = 0;
    PyObject *result = NULL;
    Py_ssize_t n = text.length;
    if (min_len < 1) {
        PyErr_SetString(PyExc_ValueError, "min_len must be at least 1");
        goto done;
    }
    if (PyObject_GetBuffer(rows_obj, &rows, PyBUF_SIMPLE) < 0) goto done;
    got = 1;
    if (rows.len < n * (Py_ssize_t)sizeof(int32_t)) {
        PyErr_SetString(PyExc_ValueError, "rows: buffer too short");
        goto done;
    }
    if (PyObject_GetBuffer(member_obj, &member, PyBUF_SIMPLE) < 0) goto done;
    got = 2;
    if (member.len != 256) {
        PyErr_SetString(PyExc_ValueError, "member must be 256 bytes");
        goto done;
    }
    for (int b = 128; b < 256; b++) {
        if (((const unsigned char *)member.buf)[b]) { /* a byte of a UTF-8 sequence: runs would cut characters */
            PyErr_SetString(PyExc_ValueError, "member: ASCII bytes only");
            goto done;
        }
    }
    if (!writable(lists_obj, &lists, n + 1, sizeof(int64_t), "list_offsets")) goto done;
    got = 3;
    if (PyObject_GetBuffer(voffs_obj, &voffs, PyBUF_WRITABLE) < 0) goto done;
    got = 4;
    if (PyObject_GetBuffer(values_obj, &values, PyBUF_WRITABLE) < 0) goto done;
    got = 5;
    {
        const int32_t *wanted = (const int32_t *)rows.buf;
        const unsigned char *in_class = (const unsigned char *)member.buf;
        int64_t *list_offsets = (int64_t *)lists.buf, *value_offsets = (int64_t *)voffs.buf;
        unsigned char *out = (unsigned char *)values.buf;
        Py_ssize_t max_values = voffs.len / (Py_ssize_t)sizeof(int64_t) - 1, max_bytes = values.len;
        Py_ssize_t n_values = 0, n_bytes = 0;
        int overflow = 0;
        if (max_values < 0) overflow = 1;
        else value_offsets[0] = 0;
        list_offsets[0] = 0;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < n && !overflow; i++) {
            const char *s, *e;
            if (wanted[i] >= 0 && column_value(&text, i, &s, &e)) {
                const unsigned char *p = (const unsigned char *)s, *end = (const unsigned char *)e;
                /* Skip ahead min_len bytes at a time: when the last byte of the window is outside the class,
                 * no long enough run can start in the window. Invariant: p is the start or follows a byte
                 * outside the class. */
                while (end - p >= min_len) {
                    const unsigned char *last = p + min_len - 1;
                    if (!in_class[*last]) {
                        p = last + 1;
                        continue;
                    }
                    const unsigned char *run = last, *stop = last + 1;
                    while (run > p && in_class[run[-1]]) run--;
                    while (stop < end && in_class[*stop]) stop++;
                    Py_ssize_t len = stop - run;
                    p = stop < end ? stop + 1 : end; /* *stop is outside the class */
                    if (len < min_len) continue;
                    if (n_values >= max_values || n_bytes + len > max_bytes) {
                        overflow = 1;
                        break;
                    }
                    for (Py_ssize_t k = 0; k < len; k++) {
                        unsigned char c = run[k];
                        out[n_bytes + k] = (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
                    }
                    n_bytes += len;
                    value_offsets[++n_values] = n_bytes;
                }
            }
            list_offsets[i + 1] = n_values;
        }
        Py_END_ALLOW_THREADS
        if (overflow) {
            PyErr_SetString(PyExc_ValueError, "find_runs: output buffers too small");
            goto done;
        }
        result = Py_BuildValue("nn", n_values, n_bytes);
    }
done:
    if (got >= 5) PyBuffer_Release(&values);
    if (got >= 4) PyBuffer_Release(&voffs);
    if (got >= 3) PyBuffer_Release(&lists);
    if (got >= 2) PyBuffer_Release(&member);
    if (got >= 1) PyBuffer_Release(&rows);
    column_release(&text);
    return result;
}

/* -- trim_views ------------------------------------------------------------------------------------------- */

/* Arrow's string_view: 16 bytes a value; up to 12 bytes inline, else a prefix and (buffer, offset). */
static inline void put_view(uint8_t *view, const char *s, Py_ssize_t len, int32_t buffer, int64_t offset) {
    int32_t n = (int32_t)len;
    memcpy(view, &n, 4);
    memset(view + 4, 0, 12);
    if (len <= 12) {
        if (len) memcpy(view + 4, s, (size_t)len);
    } else {
        int32_t off = (int32_t)offset;
        memcpy(view + 4, s, 4);
        memcpy(view + 8, &buffer, 4);
        memcpy(view + 12, &off, 4);
    }
}

PyDoc_STRVAR(trim_views_doc,
"trim_views(text, blank_is_null, views, validity) -> int\n\n"
"Each value with white space stripped (as polars' strip_chars()), as an Arrow string_view column pointing into\n"
"``text``'s data buffer (buffer 0): ``views`` gets 16 bytes a row, ``validity`` a bitmap (null for a null, and\n"
"for a blank value when ``blank_is_null``). Returns the number of nulls. The data buffer must be under 2 GiB.");

static PyObject *trim_views(PyObject *self, PyObject *args) {
    Column text = {0};
    int blank_is_null;
    PyObject *views_obj, *validity_obj;
    if (!PyArg_ParseTuple(args, "O&pOO", column_convert, &text, &blank_is_null, &views_obj, &validity_obj))
        return NULL;
    Py_buffer views = {0}, validity = {0};
    PyObject *result = NULL;
    Py_ssize_t n = text.length, nulls = 0;
    if (text.has_data && text.data.len > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "trim_views: data buffer over 2 GiB");
        goto done;
    }
    if (!writable(views_obj, &views, n, 16, "views")) goto done;
    if (!writable(validity_obj, &validity, (n + 7) / 8, 1, "validity")) {
        PyBuffer_Release(&views);
        goto done;
    }
    {
        uint8_t *view = (uint8_t *)views.buf, *bits = (uint8_t *)validity.buf;
        Py_BEGIN_ALLOW_THREADS
        memset(bits, 0, (size_t)((n + 7) / 8));
        for (Py_ssize_t i = 0; i < n; i++) {
            const char *s, *e;
            if (column_value(&text, i, &s, &e)) {
                strip(&s, &e);
                if (!(blank_is_null && s == e)) {
                    put_view(view + 16 * i, s, e - s, 0, s - text.bytes);
                    bits[i >> 3] |= (uint8_t)(1u << (i & 7));
                    continue;
                }
            }
            memset(view + 16 * i, 0, 16);
            nulls++;
        }
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&views);
    PyBuffer_Release(&validity);
    result = PyLong_FromSsize_t(nulls);
done:
    column_release(&text);
    return result;
}

/* -- seen_insert ------------------------------------------------------------------------------------------ */

PyDoc_STRVAR(seen_insert_doc,
"seen_insert(table, used, keys, first) -> int\n\n"
"Open addressing with linear probing over ``table`` (uint64, a power of two long, 0 = empty slot, so a key 0 is\n"
"kept as 1: a 1 in 2**64 chance of a false match): each key of ``keys`` (uint64) not in the table is added and marked 1 in ``first`` (uint8), a key already there\n"
"(added before, or earlier in ``keys``) is marked 0. ``used``: the keys in the table now. Returns the number\n"
"added. The caller makes room first: the call fails, writing nothing, unless the table holds ``used`` + all of\n"
"``keys`` at most half full.");

/* A key's first slot. The low bits of a good hash are as random as the high ones; mix anyway, cheaply, for weak
 * ones. */
static inline uint64_t home_slot(uint64_t key, uint64_t mask) { return (key ^ (key >> 29)) & mask; }

static PyObject *seen_insert(PyObject *self, PyObject *args) {
    PyObject *table_obj, *keys_obj, *first_obj;
    Py_ssize_t used;
    if (!PyArg_ParseTuple(args, "OnOO", &table_obj, &used, &keys_obj, &first_obj)) return NULL;
    Py_buffer table = {0}, keys = {0}, first = {0};
    if (PyObject_GetBuffer(table_obj, &table, PyBUF_WRITABLE) < 0) return NULL;
    if (PyObject_GetBuffer(keys_obj, &keys, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&table);
        return NULL;
    }
    Py_ssize_t n = keys.len / (Py_ssize_t)sizeof(uint64_t);
    Py_ssize_t capacity = table.len / (Py_ssize_t)sizeof(uint64_t);
    PyObject *result = NULL;
    if (capacity < 1 || (capacity & (capacity - 1)) != 0) {
        PyErr_SetString(PyExc_ValueError, "table length must be a power of two");
        goto done;
    }
    if (!writable(first_obj, &first, n, 1, "first")) goto done;
    {
        uint64_t *slots = (uint64_t *)table.buf;
        const uint64_t *k = (const uint64_t *)keys.buf;
        uint8_t *is_first = (uint8_t *)first.buf;
        uint64_t mask = (uint64_t)capacity - 1;
        Py_ssize_t added = 0;
        int full = used < 0 || used > capacity / 2 || n > capacity / 2 - used;
        Py_BEGIN_ALLOW_THREADS
        /* Checked before anything is written: at most half full after the call, so every probe ends. */
        for (Py_ssize_t i = 0; i < n && !full; i++) {
            uint64_t key = k[i] ? k[i] : 1; /* 0 marks an empty slot: a hash of 0 is kept as 1 */
            uint64_t slot = home_slot(key, mask);
            while (slots[slot] != 0 && slots[slot] != key) slot = (slot + 1) & mask;
            if (slots[slot] == key) {
                is_first[i] = 0;
                continue;
            }
            slots[slot] = key;
            is_first[i] = 1;
            used++;
            added++;
        }
        Py_END_ALLOW_THREADS
        if (full) PyErr_SetString(PyExc_ValueError, "table more than half full: grow it first");
        else result = PyLong_FromSsize_t(added);
    }
    PyBuffer_Release(&first);
done:
    PyBuffer_Release(&keys);
    PyBuffer_Release(&table);
    return result;
}

PyDoc_STRVAR(seen_rehash_doc,
"seen_rehash(old, new) -> int\n\n"
"Insert every key of the table ``old`` (uint64, 0 = empty) into the empty, larger table ``new`` (a power of two\n"
"long, at least twice the keys): growing without any copy of the keys. Returns the number of keys.");

static PyObject *seen_rehash(PyObject *self, PyObject *args) {
    PyObject *old_obj, *new_obj;
    if (!PyArg_ParseTuple(args, "OO", &old_obj, &new_obj)) return NULL;
    Py_buffer old = {0}, table = {0};
    if (PyObject_GetBuffer(old_obj, &old, PyBUF_SIMPLE) < 0) return NULL;
    if (PyObject_GetBuffer(new_obj, &table, PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&old);
        return NULL;
    }
    PyObject *result = NULL;
    Py_ssize_t n_old = old.len / (Py_ssize_t)sizeof(uint64_t), capacity = table.len / (Py_ssize_t)sizeof(uint64_t);
    const uint64_t *from = (const uint64_t *)old.buf;
    uint64_t *slots = (uint64_t *)table.buf;
    Py_ssize_t keys = 0;
    int empty = 1;
    for (Py_ssize_t i = 0; i < n_old; i++) keys += from[i] != 0;
    for (Py_ssize_t i = 0; i < capacity && empty; i++) empty = slots[i] == 0;
    if (capacity < 1 || (capacity & (capacity - 1)) != 0 || 2 * keys > capacity || !empty) {
        PyErr_SetString(PyExc_ValueError, "new table: empty, a power of two long, at least twice the keys");
    } else {
        uint64_t mask = (uint64_t)capacity - 1;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < n_old; i++) {
            uint64_t key = from[i];
            if (key == 0) continue;
            uint64_t slot = home_slot(key, mask);
            while (slots[slot] != 0) slot = (slot + 1) & mask;
            slots[slot] = key;
        }
        Py_END_ALLOW_THREADS
        result = PyLong_FromSsize_t(keys);
    }
    PyBuffer_Release(&table);
    PyBuffer_Release(&old);
    return result;
}

/* -- row_hashes ------------------------------------------------------------------------------------------ */

static const uint64_t GOLDEN = 0x9E3779B97F4A7C15ULL;

/* One step: the state takes a word (a bijection of the state for a given word). The first states come from a
 * secret seed: without it nobody can work out the later states, which is what it takes to make two rows collide. */
static inline uint64_t take_word(uint64_t h, uint64_t w) {
    h = (h ^ w) * GOLDEN;
    return h ^ (h >> 29);
}

static inline uint64_t final_mix(uint64_t h) { /* MurmurHash3's fmix64 */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
}

/* Four states fed in turn, so that the multiplications of consecutive words overlap instead of waiting for each
 * other; a word goes to the first, and the states rotate (register renaming makes the rotation free), so each
 * state takes every fourth word. Each state starts from its own non-linear function of the secret
 * seed: from public offsets of one seed (seed ^ K), a word could cancel the offset and two rows whose lanes are
 * swapped would collide for every seed. */
typedef struct {
    uint64_t a, b, c, d;
} Lanes;

static inline Lanes lanes_start(uint64_t seed) {
    Lanes l = {final_mix(seed + GOLDEN), final_mix(seed + 2 * GOLDEN), final_mix(seed + 3 * GOLDEN),
               final_mix(seed + 4 * GOLDEN)};
    return l;
}

static inline void feed(Lanes *l, uint64_t w) {
    uint64_t a = take_word(l->a, w);
    l->a = l->b;
    l->b = l->c;
    l->c = l->d;
    l->d = a;
}

/* The states taken as words, in order, by a chain from yet another secret start (``start``: final_mix of the seed
 * + 5 * GOLDEN): swapping two states changes the result (take_word(a, b) alone would not tell a from b). */
static inline uint64_t lanes_end(const Lanes *l, uint64_t start) {
    return take_word(take_word(take_word(take_word(start, l->a), l->b), l->c), l->d);
}

/* The last 1..7 bytes of a value as a word, byte j in bits 8j..8j+7. Read as one word and masked where the data
 * buffer has 8 bytes from p: a loop over the bytes ends after a data-dependent count, and its mispredicted exit
 * cost a few nanoseconds for every value of every row. */
static inline uint64_t tail_word(const unsigned char *p, Py_ssize_t n, const unsigned char *data_end) {
    uint64_t w = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (data_end - p >= 8) {
        memcpy(&w, p, 8);
        return w & (~0ULL >> (64 - 8 * n));
    }
#else
    (void)data_end;
#endif
    for (Py_ssize_t j = 0; j < n; j++) w |= (uint64_t)p[j] << (8 * j);
    return w;
}

PyDoc_STRVAR(row_hashes_doc,
"row_hashes(columns, rows, seed, out) -> None\n\n"
"A 64-bit hash of each row whose ``rows`` entry (int32) is >= 0, over every column of ``columns`` (a sequence of\n"
"column tuples): each value's bytes and length, or a null mark, in column order, from the state ``seed`` (keep it\n"
"secret and the same for every chunk of one ingest). Equal rows hash alike; different rows collide about once\n"
"in 2**64. Other rows get 0. ``out``: uint64, one per row.");

static PyObject *row_hashes(PyObject *self, PyObject *args) {
    PyObject *columns_obj, *rows_obj, *out_obj;
    unsigned long long seed;
    if (!PyArg_ParseTuple(args, "OOKO", &columns_obj, &rows_obj, &seed, &out_obj)) return NULL;
    PyObject *seq = PySequence_Fast(columns_obj, "columns must be a sequence");
    if (!seq) return NULL;
    Py_ssize_t n_columns = PySequence_Fast_GET_SIZE(seq), converted = 0;
    PyObject *result = NULL;
    Py_buffer rows = {0}, out = {0};
    int got = 0;
    Column *columns = PyMem_Calloc((size_t)(n_columns ? n_columns : 1), sizeof(Column));
    if (!columns) {
        PyErr_NoMemory();
        goto done;
    }
    for (; converted < n_columns; converted++) {
        if (!column_convert(PySequence_Fast_GET_ITEM(seq, converted), &columns[converted])) goto done;
    }
    Py_ssize_t n = n_columns ? columns[0].length : 0;
    for (Py_ssize_t c = 1; c < n_columns; c++) {
        if (columns[c].length != n) {
            PyErr_SetString(PyExc_ValueError, "columns differ in length");
            goto done;
        }
    }
    if (PyObject_GetBuffer(rows_obj, &rows, PyBUF_SIMPLE) < 0) goto done;
    got = 1;
    if (rows.len < n * (Py_ssize_t)sizeof(int32_t)) {
        PyErr_SetString(PyExc_ValueError, "rows: buffer too short");
        goto done;
    }
    if (!writable(out_obj, &out, n, sizeof(uint64_t), "out")) goto done;
    got = 2;
    {
        const int32_t *wanted = (const int32_t *)rows.buf;
        uint64_t *hashes = (uint64_t *)out.buf;
        const Lanes start = lanes_start((uint64_t)seed); /* the same for every row: mixed once */
        const uint64_t end_start = final_mix((uint64_t)seed + 5 * GOLDEN);
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < n; i++) {
            if (wanted[i] < 0) {
                hashes[i] = 0;
                continue;
            }
            Lanes lanes = start;
            for (Py_ssize_t c = 0; c < n_columns; c++) {
                const char *s, *e;
                if (!column_value(&columns[c], i, &s, &e)) {
                    feed(&lanes, 0xA5A5A5A5A5A5A5A5ULL ^ (uint64_t)c); /* null: not the same as "" */
                    continue;
                }
                const unsigned char *p = (const unsigned char *)s;
                Py_ssize_t len = e - s, k = 0;
                feed(&lanes, ((uint64_t)c << 48) ^ (uint64_t)len);
                for (; k + 8 <= len; k += 8) {
                    uint64_t w;
                    memcpy(&w, p + k, 8);
                    feed(&lanes, w);
                }
                if (k < len) { /* a value with bytes has a data buffer: its tail may be read up to the end */
                    const unsigned char *data_end = (const unsigned char *)columns[c].bytes + columns[c].data.len;
                    feed(&lanes, tail_word(p + k, len - k, data_end));
                }
            }
            uint64_t h = lanes_end(&lanes, end_start);
            hashes[i] = final_mix(h);
        }
        Py_END_ALLOW_THREADS
        result = Py_NewRef(Py_None);
    }
done:
    if (got >= 2) PyBuffer_Release(&out);
    if (got >= 1) PyBuffer_Release(&rows);
    for (Py_ssize_t c = 0; c < converted; c++) column_release(&columns[c]);
    PyMem_Free(columns);
    Py_DECREF(seq);
    return result;
}

/* -- is_ascii ------------------------------------------------------------------------------------------- */

PyDoc_STRVAR(is_ascii_doc,
"is_ascii(data) -> bool\n\n"
"Whether every byte of ``data`` is below 0x80 (ASCII text is valid UTF-8: no further check needed).");

static PyObject *is_ascii(PyObject *self, PyObject *args) {
    Py_buffer data = {0};
    if (!PyArg_ParseTuple(args, "y*", &data)) return NULL;
    const unsigned char *p = (const unsigned char *)data.buf;
    Py_ssize_t n = data.len, i = 0;
    uint64_t high = 0;
    Py_BEGIN_ALLOW_THREADS
    for (; i + 32 <= n && !high; i += 32) { /* four words at a time; the compiler vectorises it */
        uint64_t w[4];
        memcpy(w, p + i, 32);
        high = (w[0] | w[1] | w[2] | w[3]) & 0x8080808080808080ULL;
    }
    for (; i < n && !high; i++) high = p[i] & 0x80;
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    return PyBool_FromLong(high == 0);
}

/* -- module ----------------------------------------------------------------------------------------------- */

static PyMethodDef methods[] = {
    {"rule_index", rule_index, METH_VARARGS, rule_index_doc},
    {"iso_timestamps", iso_timestamps, METH_VARARGS, iso_timestamps_doc},
    {"find_runs", find_runs, METH_VARARGS, find_runs_doc},
    {"trim_views", trim_views, METH_VARARGS, trim_views_doc},
    {"row_hashes", row_hashes, METH_VARARGS, row_hashes_doc},
    {"is_ascii", is_ascii, METH_VARARGS, is_ascii_doc},
    {"seen_insert", seen_insert, METH_VARARGS, seen_insert_doc},
    {"seen_rehash", seen_rehash, METH_VARARGS, seen_rehash_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_scan",
    .m_doc = "Compiled per-row passes of the event ingest (see scan.py).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__scan(void) { return PyModule_Create(&module); }
