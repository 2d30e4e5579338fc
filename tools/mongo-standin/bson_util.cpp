#include "bson_util.hpp"

#include <cmath>
#include <cstring>

namespace standin {

// The server's name for CODE (error_codes.yml); a code without a name (an assertion id such as
// 40324) is "Location<code>", as the server reports it.
std::string code_name(int code) {
    switch (code) {
        case 1:
            return "InternalError";
        case 2:
            return "BadValue";
        case 4:
            return "NoSuchKey";
        case 6:
            return "HostUnreachable";
        case 7:
            return "HostNotFound";
        case 8:
            return "UnknownError";
        case 9:
            return "FailedToParse";
        case 11:
            return "UserNotFound";
        case 13:
            return "Unauthorized";
        case 14:
            return "TypeMismatch";
        case 15:
            return "Overflow";
        case 17:
            return "ProtocolError";
        case 20:
            return "IllegalOperation";
        case 22:
            return "InvalidBSON";
        case 24:
            return "LockTimeout";
        case 26:
            return "NamespaceNotFound";
        case 27:
            return "IndexNotFound";
        case 28:
            return "PathNotViable";
        case 29:
            return "NonExistentPath";
        case 30:
            return "InvalidPath";
        case 31:
            return "RoleNotFound";
        case 40:
            return "ConflictingUpdateOperators";
        case 43:
            return "CursorNotFound";
        case 48:
            return "NamespaceExists";
        case 50:
            return "MaxTimeMSExpired";
        case 51:
            return "ManualInterventionRequired";
        case 52:
            return "DollarPrefixedFieldName";
        case 53:
            return "InvalidIdField";
        case 54:
            return "NotSingleValueField";
        case 56:
            return "EmptyFieldName";
        case 57:
            return "DottedFieldName";
        case 59:
            return "CommandNotFound";
        case 63:
            return "StaleShardVersion";
        case 64:
            return "WriteConcernFailed";
        case 66:
            return "ImmutableField";
        case 67:
            return "CannotCreateIndex";
        case 68:
            return "IndexAlreadyExists";
        case 72:
            return "InvalidOptions";
        case 73:
            return "InvalidNamespace";
        case 76:
            return "NoReplicationEnabled";
        case 79:
            return "UnknownReplWriteConcern";
        case 85:
            return "IndexOptionsConflict";
        case 86:
            return "IndexKeySpecsConflict";
        case 89:
            return "NetworkTimeout";
        case 91:
            return "ShutdownInProgress";
        case 96:
            return "OperationFailed";
        case 100:
            return "UnsatisfiableWriteConcern";
        case 112:
            return "WriteConflict";
        case 115:
            return "CommandNotSupported";
        case 117:
            return "ConflictingOperationInProgress";
        case 121:
            return "DocumentValidationFailure";
        case 125:
            return "CommandFailed";
        case 133:
            return "FailedToSatisfyReadPreference";
        case 134:
            return "ReadConcernMajorityNotAvailableYet";
        case 136:
            return "CappedPositionLost";
        case 150:
            return "StaleEpoch";
        case 165:
            return "ViewDepthLimitExceeded";
        case 166:
            return "CommandNotSupportedOnView";
        case 167:
            return "OptionNotSupportedOnView";
        case 168:
            return "InvalidPipelineOperator";
        case 182:
            return "InvalidViewDefinition";
        case 189:
            return "PrimarySteppedDown";
        case 197:
            return "InvalidIndexSpecificationOption";
        case 206:
            return "NoSuchSession";
        case 216:
            return "ElectionInProgress";
        case 223:
            return "IllegalOpMsgFlag";
        case 225:
            return "TransactionTooOld";
        case 234:
            return "RetryChangeStream";
        case 237:
            return "CursorKilled";
        case 238:
            return "NotImplemented";
        case 239:
            return "SnapshotTooOld";
        case 241:
            return "ConversionFailure";
        case 246:
            return "SnapshotUnavailable";
        case 249:
            return "StaleDbVersion";
        case 251:
            return "NoSuchTransaction";
        case 256:
            return "TransactionCommitted";
        case 257:
            return "TransactionTooLarge";
        case 260:
            return "InvalidResumeToken";
        case 262:
            return "ExceededTimeLimit";
        case 263:
            return "OperationNotSupportedInTransaction";
        case 267:
            return "PreparedTransactionInProgress";
        case 280:
            return "ChangeStreamFatalError";
        case 286:
            return "ChangeStreamHistoryLost";
        case 290:
            return "TransactionExceededLifetimeLimitSeconds";
        case 352:
            return "UnsupportedOpQueryCommand";
        case 9001:
            return "SocketException";
        case 10107:
            return "NotWritablePrimary";
        case 10334:
            return "BSONObjectTooLarge";
        case 11000:
            return "DuplicateKey";
        case 11600:
            return "InterruptedAtShutdown";
        case 11601:
            return "Interrupted";
        case 11602:
            return "InterruptedDueToReplStateChange";
        case 13297:
            return "DatabaseDifferCase";
        case 13388:
            return "StaleConfig";
        case 13435:
            return "NotPrimaryNoSecondaryOk";
        case 13436:
            return "NotPrimaryOrSecondary";
        case 46841:
            return "ClientMarkedKilled";
        case 50768:
            return "NotARetryableWriteCommand";
        default:
            return "Location" + std::to_string(code);
    }
}

void append_error_info(bson_t* b, const Error& err) {
    if (err.info.empty()) return;
    bson_t info;
    if (bson_init_static(&info, reinterpret_cast<const uint8_t*>(err.info.data()), err.info.size()))
        bson_concat(b, &info);
}

Doc Doc::from_bytes(const uint8_t* data, size_t len) {
    bson_t* b = bson_new_from_data(data, len);
    return b ? Doc(b) : Doc();
}

std::string Doc::json() const {
    size_t n = 0;
    char* s = bson_as_canonical_extended_json(b_, &n);
    std::string out = s ? std::string(s, n) : std::string();
    bson_free(s);
    return out;
}

// ---- Node ----

Node::Node(const Node& o) : type(o.type), kids(o.kids) {
    if (o.is_container() || o.scalar.value_type == BSON_TYPE_EOD) {
        scalar.value_type = BSON_TYPE_NULL;
    } else {
        bson_value_copy(&o.scalar, &scalar);
    }
}

Node& Node::operator=(const Node& o) {
    if (this != &o) {
        Node tmp(o);
        *this = std::move(tmp);
    }
    return *this;
}

Node::Node(Node&& o) noexcept : type(o.type), scalar(o.scalar), kids(std::move(o.kids)) {
    o.type = BSON_TYPE_NULL;
    o.scalar = bson_value_t{};
    o.scalar.value_type = BSON_TYPE_NULL;
}

Node& Node::operator=(Node&& o) noexcept {
    if (this != &o) {
        if (!is_container()) bson_value_destroy(&scalar);
        type = o.type;
        scalar = o.scalar;
        kids = std::move(o.kids);
        o.type = BSON_TYPE_NULL;
        o.scalar = bson_value_t{};
        o.scalar.value_type = BSON_TYPE_NULL;
    }
    return *this;
}

Node::~Node() {
    if (!is_container()) bson_value_destroy(&scalar);
}

Node Node::from_value(const bson_value_t* v) {
    Node n;
    n.type = v->value_type;
    if (n.is_container()) {
        bson_t b;
        if (bson_init_static(&b, v->value.v_doc.data, v->value.v_doc.data_len)) {
            bson_iter_t it;
            if (bson_iter_init(&it, &b)) {
                while (bson_iter_next(&it)) n.kids.emplace_back(bson_iter_key(&it), from_iter(&it));
            }
        }
        n.scalar.value_type = BSON_TYPE_NULL;
    } else {
        bson_value_copy(v, &n.scalar);
    }
    return n;
}

Node Node::from_iter(const bson_iter_t* it) {
    Node n;
    n.type = bson_iter_type(it);
    if (n.is_container()) {
        bson_iter_t child;
        if (bson_iter_recurse(it, &child)) {
            while (bson_iter_next(&child))
                n.kids.emplace_back(bson_iter_key(&child), from_iter(&child));
        }
    } else {
        bson_value_copy(bson_iter_value(const_cast<bson_iter_t*>(it)), &n.scalar);
    }
    return n;
}

Node Node::from_bson(const bson_t* b) {
    Node n = document();
    bson_iter_t it;
    if (bson_iter_init(&it, b)) {
        while (bson_iter_next(&it)) n.kids.emplace_back(bson_iter_key(&it), from_iter(&it));
    }
    return n;
}

Node Node::int32(int32_t v) {
    Node n;
    n.type = n.scalar.value_type = BSON_TYPE_INT32;
    n.scalar.value.v_int32 = v;
    return n;
}
Node Node::int64(int64_t v) {
    Node n;
    n.type = n.scalar.value_type = BSON_TYPE_INT64;
    n.scalar.value.v_int64 = v;
    return n;
}
Node Node::dbl(double v) {
    Node n;
    n.type = n.scalar.value_type = BSON_TYPE_DOUBLE;
    n.scalar.value.v_double = v;
    return n;
}
Node Node::boolean(bool v) {
    Node n;
    n.type = n.scalar.value_type = BSON_TYPE_BOOL;
    n.scalar.value.v_bool = v;
    return n;
}
Node Node::string(std::string_view s) {
    bson_value_t v{};
    v.value_type = BSON_TYPE_UTF8;
    v.value.v_utf8.str = const_cast<char*>(s.data());
    v.value.v_utf8.len = static_cast<uint32_t>(s.size());
    return from_value(&v);
}
Node Node::null() { return Node(); }

double Node::as_double() const {
    switch (type) {
        case BSON_TYPE_INT32:
            return scalar.value.v_int32;
        case BSON_TYPE_INT64:
            return static_cast<double>(scalar.value.v_int64);
        case BSON_TYPE_DOUBLE:
            return scalar.value.v_double;
        case BSON_TYPE_DECIMAL128: {
            char buf[BSON_DECIMAL128_STRING];
            bson_decimal128_to_string(&scalar.value.v_decimal128, buf);
            return std::strtod(buf, nullptr);
        }
        default:
            return 0;
    }
}

Node* Node::find(std::string_view key) {
    for (auto& [k, v] : kids)
        if (k == key) return &v;
    return nullptr;
}
const Node* Node::find(std::string_view key) const {
    for (const auto& [k, v] : kids)
        if (k == key) return &v;
    return nullptr;
}
Node& Node::set(std::string_view key, Node v) {
    if (Node* n = find(key)) {
        *n = std::move(v);
        return *n;
    }
    kids.emplace_back(std::string(key), std::move(v));
    return kids.back().second;
}
bool Node::erase(std::string_view key) {
    for (auto it = kids.begin(); it != kids.end(); ++it) {
        if (it->first == key) {
            kids.erase(it);
            return true;
        }
    }
    return false;
}
void Node::renumber() {
    for (size_t i = 0; i < kids.size(); ++i) kids[i].first = std::to_string(i);
}

void Node::append_to(bson_t* parent, std::string_view key) const {
    int klen = static_cast<int>(key.size());
    if (type == BSON_TYPE_DOCUMENT) {
        bson_t child;
        bson_append_document_begin(parent, key.data(), klen, &child);
        for (const auto& [k, v] : kids) v.append_to(&child, k);
        bson_append_document_end(parent, &child);
    } else if (type == BSON_TYPE_ARRAY) {
        bson_t child;
        bson_append_array_begin(parent, key.data(), klen, &child);
        size_t i = 0;
        for (const auto& kv : kids) kv.second.append_to(&child, std::to_string(i++));
        bson_append_array_end(parent, &child);
    } else {
        bson_append_value(parent, key.data(), klen, &scalar);
    }
}

Doc Node::to_doc() const {
    Doc d;
    if (type == BSON_TYPE_ARRAY) {
        size_t i = 0;
        for (const auto& kv : kids) kv.second.append_to(d.get(), std::to_string(i++));
    } else {
        for (const auto& [k, v] : kids) v.append_to(d.get(), k);
    }
    return d;
}

// ---- order ----

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

// ---- lookups ----

bool find_field(const bson_t* b, const char* key, bson_iter_t* it) {
    return bson_iter_init_find(it, b, key);
}

std::optional<std::string> get_string(const bson_t* b, const char* key) {
    bson_iter_t it;
    if (!find_field(b, key, &it) || !BSON_ITER_HOLDS_UTF8(&it)) return std::nullopt;
    uint32_t n;
    const char* s = bson_iter_utf8(&it, &n);
    return std::string(s, n);
}

bool iter_is_number(const bson_iter_t* it) {
    bson_type_t t = bson_iter_type(it);
    return t == BSON_TYPE_INT32 || t == BSON_TYPE_INT64 || t == BSON_TYPE_DOUBLE ||
           t == BSON_TYPE_DECIMAL128;
}

double iter_as_double(const bson_iter_t* it) {
    bool nan;
    return static_cast<double>(number_of(it, &nan));
}

int64_t iter_as_int64(const bson_iter_t* it) {
    switch (bson_iter_type(it)) {
        case BSON_TYPE_INT32:
            return bson_iter_int32(it);
        case BSON_TYPE_INT64:
            return bson_iter_int64(it);
        case BSON_TYPE_DOUBLE: {
            double d = bson_iter_double(it);
            if (std::isnan(d)) return 0;
            if (d >= 9.2e18) return INT64_MAX;
            if (d <= -9.2e18) return INT64_MIN;
            return static_cast<int64_t>(d);
        }
        case BSON_TYPE_DECIMAL128:
            return static_cast<int64_t>(iter_as_double(it));
        case BSON_TYPE_BOOL:
            return bson_iter_bool(it) ? 1 : 0;
        default:
            return 0;
    }
}

std::optional<int64_t> get_int(const bson_t* b, const char* key) {
    bson_iter_t it;
    if (!find_field(b, key, &it) || !iter_is_number(&it)) return std::nullopt;
    return iter_as_int64(&it);
}

bool iter_truthy(const bson_iter_t* it) {
    switch (bson_iter_type(it)) {
        case BSON_TYPE_BOOL:
            return bson_iter_bool(it);
        case BSON_TYPE_INT32:
        case BSON_TYPE_INT64:
        case BSON_TYPE_DOUBLE:
        case BSON_TYPE_DECIMAL128:
            return iter_as_double(it) != 0;
        case BSON_TYPE_NULL:
        case BSON_TYPE_UNDEFINED:
        case BSON_TYPE_EOD:
            return false;
        default:
            return true;
    }
}

std::optional<bool> get_bool(const bson_t* b, const char* key) {
    bson_iter_t it;
    if (!find_field(b, key, &it)) return std::nullopt;
    return iter_truthy(&it);
}

void empty_view(bson_t* out) {
    static const uint8_t kEmpty[5] = {5, 0, 0, 0, 0};
    bson_init_static(out, kEmpty, sizeof kEmpty);
}

void iter_view(const bson_iter_t* it, bson_t* out) {
    uint32_t len = 0;
    const uint8_t* data = nullptr;
    if (BSON_ITER_HOLDS_DOCUMENT(it))
        bson_iter_document(it, &len, &data);
    else if (BSON_ITER_HOLDS_ARRAY(it))
        bson_iter_array(it, &len, &data);
    if (!data || !bson_init_static(out, data, len)) empty_view(out);
}

Doc iter_subdoc(const bson_iter_t* it) {
    uint32_t len = 0;
    const uint8_t* data = nullptr;
    if (BSON_ITER_HOLDS_DOCUMENT(it))
        bson_iter_document(it, &len, &data);
    else if (BSON_ITER_HOLDS_ARRAY(it))
        bson_iter_array(it, &len, &data);
    else
        return Doc();
    return Doc::from_bytes(data, len);
}

void append_value(bson_t* b, std::string_view key, const bson_iter_t* it) {
    bson_append_iter(b, key.data(), static_cast<int>(key.size()), it);
}

std::string hex_upper(const uint8_t* data, size_t n) {
    static const char* digits = "0123456789ABCDEF";
    std::string s(n * 2, '0');
    for (size_t i = 0; i < n; ++i) {
        s[2 * i] = digits[data[i] >> 4];
        s[2 * i + 1] = digits[data[i] & 15];
    }
    return s;
}

std::optional<std::vector<uint8_t>> from_hex(std::string_view s) {
    if (s.size() % 2) return std::nullopt;
    auto nib = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    std::vector<uint8_t> out(s.size() / 2);
    for (size_t i = 0; i < out.size(); ++i) {
        int h = nib(s[2 * i]), l = nib(s[2 * i + 1]);
        if (h < 0 || l < 0) return std::nullopt;
        out[i] = static_cast<uint8_t>(h * 16 + l);
    }
    return out;
}

}  // namespace standin
