// The BSON comparison order (numbers across types, then by type rank) and canonical keys.
#include <cmath>
#include <cstring>

#include "bson_util.hpp"

namespace standin {

int type_rank(bson_type_t t) {
    switch (t) {
        case BSON_TYPE_MINKEY:
            return 0;
        case BSON_TYPE_UNDEFINED:
            return 1;
        case BSON_TYPE_NULL:
            return 2;
        case BSON_TYPE_INT32:
        case BSON_TYPE_INT64:
        case BSON_TYPE_DOUBLE:
        case BSON_TYPE_DECIMAL128:
            return 3;
        case BSON_TYPE_UTF8:
        case BSON_TYPE_SYMBOL:
            return 4;
        case BSON_TYPE_DOCUMENT:
            return 5;
        case BSON_TYPE_ARRAY:
            return 6;
        case BSON_TYPE_BINARY:
            return 7;
        case BSON_TYPE_OID:
            return 8;
        case BSON_TYPE_BOOL:
            return 9;
        case BSON_TYPE_DATE_TIME:
            return 10;
        case BSON_TYPE_TIMESTAMP:
            return 11;
        case BSON_TYPE_REGEX:
            return 12;
        case BSON_TYPE_DBPOINTER:
            return 13;
        case BSON_TYPE_CODE:
            return 14;
        case BSON_TYPE_CODEWSCOPE:
            return 15;
        case BSON_TYPE_MAXKEY:
            return 16;
        default:
            return 17;
    }
}

namespace {

long double number_of(const bson_iter_t* it, bool* nan) {
    *nan = false;
    switch (bson_iter_type(it)) {
        case BSON_TYPE_INT32:
            return bson_iter_int32(it);
        case BSON_TYPE_INT64:
            return static_cast<long double>(bson_iter_int64(it));
        case BSON_TYPE_DOUBLE: {
            double d = bson_iter_double(it);
            if (std::isnan(d)) *nan = true;
            return d;
        }
        case BSON_TYPE_DECIMAL128: {
            bson_decimal128_t dec;
            bson_iter_decimal128(it, &dec);
            char buf[BSON_DECIMAL128_STRING];
            bson_decimal128_to_string(&dec, buf);
            long double v = std::strtold(buf, nullptr);
            if (std::isnan(v)) *nan = true;
            return v;
        }
        default:
            return 0;
    }
}

template <class T>
int cmp3(const T& a, const T& b) {
    return a < b ? -1 : (b < a ? 1 : 0);
}

int compare_bytes(const uint8_t* a, size_t alen, const uint8_t* b, size_t blen) {
    int c = std::memcmp(a, b, std::min(alen, blen));
    if (c != 0) return c < 0 ? -1 : 1;
    return cmp3(alen, blen);
}

int compare_containers(const bson_iter_t* a, const bson_iter_t* b, bool compare_names) {
    bson_iter_t ca, cb;
    if (!bson_iter_recurse(a, &ca) || !bson_iter_recurse(b, &cb)) return 0;
    while (true) {
        bool ha = bson_iter_next(&ca);
        bool hb = bson_iter_next(&cb);
        if (!ha || !hb) return cmp3(ha, hb);
        int r = cmp3(type_rank(bson_iter_type(&ca)), type_rank(bson_iter_type(&cb)));
        if (r) return r;
        if (compare_names) {
            r = std::strcmp(bson_iter_key(&ca), bson_iter_key(&cb));
            if (r) return r < 0 ? -1 : 1;
        }
        r = compare_values(&ca, &cb);
        if (r) return r;
    }
}

}  // namespace

double iter_as_double(const bson_iter_t* it) {
    bool nan;
    return static_cast<double>(number_of(it, &nan));
}

int compare_values(const bson_iter_t* a, const bson_iter_t* b) {
    bson_type_t ta = bson_iter_type(a), tb = bson_iter_type(b);
    int r = cmp3(type_rank(ta), type_rank(tb));
    if (r) return r;
    switch (type_rank(ta)) {
        case 0:
        case 1:
        case 2:
        case 16:
            return 0;
        case 3: {
            bool na, nb;
            long double x = number_of(a, &na), y = number_of(b, &nb);
            if (na || nb) return cmp3(!na, !nb);
            return cmp3(x, y);
        }
        case 4: {
            uint32_t la = 0, lb = 0;
            const char* sa =
                ta == BSON_TYPE_SYMBOL ? bson_iter_symbol(a, &la) : bson_iter_utf8(a, &la);
            const char* sb =
                tb == BSON_TYPE_SYMBOL ? bson_iter_symbol(b, &lb) : bson_iter_utf8(b, &lb);
            return compare_bytes(reinterpret_cast<const uint8_t*>(sa), la,
                                 reinterpret_cast<const uint8_t*>(sb), lb);
        }
        case 5:
            return compare_containers(a, b, true);
        case 6:
            return compare_containers(a, b, false);
        case 7: {
            bson_subtype_t sa, sb;
            uint32_t la, lb;
            const uint8_t *da, *db;
            bson_iter_binary(a, &sa, &la, &da);
            bson_iter_binary(b, &sb, &lb, &db);
            if (la != lb) return cmp3(la, lb);
            if (sa != sb) return cmp3(static_cast<int>(sa), static_cast<int>(sb));
            return compare_bytes(da, la, db, lb);
        }
        case 8: {
            int c = bson_oid_compare(bson_iter_oid(a), bson_iter_oid(b));
            return cmp3(c, 0);
        }
        case 9:
            return cmp3(bson_iter_bool(a), bson_iter_bool(b));
        case 10:
            return cmp3(bson_iter_date_time(a), bson_iter_date_time(b));
        case 11: {
            uint32_t t1, i1, t2, i2;
            bson_iter_timestamp(a, &t1, &i1);
            bson_iter_timestamp(b, &t2, &i2);
            if (t1 != t2) return cmp3(t1, t2);
            return cmp3(i1, i2);
        }
        case 12: {
            const char *oa, *ob;
            const char* pa = bson_iter_regex(a, &oa);
            const char* pb = bson_iter_regex(b, &ob);
            int c = std::strcmp(pa, pb);
            if (c) return c < 0 ? -1 : 1;
            c = std::strcmp(oa, ob);
            return cmp3(c, 0);
        }
        default: {
            // DBPointer, code, code with scope: compare the raw value bytes.
            return compare_bytes(a->raw + a->d1, a->next_off - a->d1, b->raw + b->d1,
                                 b->next_off - b->d1);
        }
    }
}

bool values_equal(const bson_iter_t* a, const bson_iter_t* b) { return compare_values(a, b) == 0; }

int compare_docs(const bson_t* a, const bson_t* b) {
    bson_t wa = BSON_INITIALIZER, wb = BSON_INITIALIZER;
    bson_append_document(&wa, "", 0, a);
    bson_append_document(&wb, "", 0, b);
    bson_iter_t ia, ib;
    bson_iter_init(&ia, &wa);
    bson_iter_init(&ib, &wb);
    bson_iter_next(&ia);
    bson_iter_next(&ib);
    int r = compare_values(&ia, &ib);
    bson_destroy(&wa);
    bson_destroy(&wb);
    return r;
}

int compare_nodes(const Node& a, const Node& b) {
    bson_t wa = BSON_INITIALIZER, wb = BSON_INITIALIZER;
    a.append_to(&wa, "");
    b.append_to(&wb, "");
    bson_iter_t ia, ib;
    bson_iter_init(&ia, &wa);
    bson_iter_init(&ib, &wb);
    bson_iter_next(&ia);
    bson_iter_next(&ib);
    int r = compare_values(&ia, &ib);
    bson_destroy(&wa);
    bson_destroy(&wb);
    return r;
}

void append_canonical_key(const bson_iter_t* it, std::string& out) {
    bson_type_t t = bson_iter_type(it);
    switch (t) {
        case BSON_TYPE_INT32:
        case BSON_TYPE_INT64:
        case BSON_TYPE_DOUBLE:
        case BSON_TYPE_DECIMAL128: {
            bool nan;
            long double v = number_of(it, &nan);
            if (nan) {
                out += 'N';
                return;
            }
            if (v == std::floor(v) && v >= -9.2e18L && v <= 9.2e18L) {
                int64_t i = static_cast<int64_t>(v);
                out += 'I';
                out.append(reinterpret_cast<const char*>(&i), sizeof i);
            } else {
                double d = static_cast<double>(v);
                out += 'D';
                out.append(reinterpret_cast<const char*>(&d), sizeof d);
            }
            return;
        }
        case BSON_TYPE_DOCUMENT:
        case BSON_TYPE_ARRAY: {
            out += t == BSON_TYPE_DOCUMENT ? 'O' : 'A';
            bson_iter_t c;
            if (bson_iter_recurse(it, &c)) {
                while (bson_iter_next(&c)) {
                    if (t == BSON_TYPE_DOCUMENT) {
                        out += bson_iter_key(&c);
                        out += '\0';
                    }
                    append_canonical_key(&c, out);
                }
            }
            out += 'E';
            return;
        }
        case BSON_TYPE_UNDEFINED:
        case BSON_TYPE_NULL:
            out += 'Z';
            return;
        default: {
            char tag = static_cast<char>(t == BSON_TYPE_SYMBOL ? BSON_TYPE_UTF8 : t);
            out += tag;
            uint32_t n = it->next_off - it->d1;
            out.append(reinterpret_cast<const char*>(&n), sizeof n);
            out.append(reinterpret_cast<const char*>(it->raw + it->d1), n);
        }
    }
}

std::string canonical_key(const bson_iter_t* it) {
    std::string s;
    append_canonical_key(it, s);
    return s;
}

}  // namespace standin
