// The query text syntax (docs/queries.md has the grammar): a hand-written lexer and a
// recursive-descent parser producing a Condition. Paths are not checked here; QueryBuilder::build
// resolves them.
#include <cerrno>
#include <cstdlib>
#include <limits>

#include "store/query_impl.hpp"

namespace outpost {

using detail::CondNode;

namespace {

enum class Tok { kIdent, kString, kInt, kFloat, kParam, kOp, kLParen, kRParen, kComma, kEnd };

struct Token {
    Tok kind = Tok::kEnd;
    std::string text;  // identifier, op, param name, or the decoded string
    int64_t i = 0;
    double d = 0;
    size_t col = 0;  // 1-based
};

bool ident_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '@';
}
bool ident_char(char c) { return ident_start(c) || (c >= '0' && c <= '9'); }
bool digit(char c) { return c >= '0' && c <= '9'; }

Status syntax_error(size_t col, const std::string& what) {
    return Status(ErrorCode::kInvalidArgument,
                  "query syntax: column " + std::to_string(col) + ": " + what);
}

void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

bool space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// An identifier, or a path of identifiers joined by dots (owner.name, @Task.owner.done), at S[I].
void lex_path(std::string_view s, size_t& i, Token& t) {
    size_t j = i + 1;
    while (j < s.size() &&
           (ident_char(s[j]) || (s[j] == '.' && j + 1 < s.size() && ident_start(s[j + 1])))) {
        ++j;
    }
    t.kind = Tok::kIdent;
    t.text = std::string(s.substr(i, j - i));
    i = j;
}

// A $parameter at S[I]. Names may have dots: $auth.sub (sync rules name claims so).
void lex_param(std::string_view s, size_t& i, Token& t) {
    size_t j = i + 1;
    while (j < s.size() &&
           ((ident_char(s[j]) && s[j] != '@') ||
            (s[j] == '.' && j + 1 < s.size() && ident_start(s[j + 1]) && s[j + 1] != '@'))) {
        ++j;
    }
    t.kind = Tok::kParam;
    t.text = std::string(s.substr(i + 1, j - i - 1));
    i = j;
}

// The escape at S[J] (a backslash, with a character after it) appended to OUT; J moves past it.
Status lex_escape(std::string_view s, size_t& j, std::string& out) {
    char e = s[j + 1];
    j += 2;
    switch (e) {
        case '"':
            out += '"';
            break;
        case '\'':
            out += '\'';
            break;
        case '\\':
            out += '\\';
            break;
        case '/':
            out += '/';
            break;
        case 'n':
            out += '\n';
            break;
        case 't':
            out += '\t';
            break;
        case 'r':
            out += '\r';
            break;
        case '0':
            out += '\0';
            break;
        case 'u': {
            if (j + 4 > s.size()) return syntax_error(j - 1, "\\u needs four hex digits");
            uint32_t cp = 0;
            for (size_t k = 0; k < 4; ++k) {
                char h = s[j + k];
                cp <<= 4;
                if (digit(h))
                    cp |= static_cast<uint32_t>(h - '0');
                else if (h >= 'a' && h <= 'f')
                    cp |= static_cast<uint32_t>(h - 'a' + 10);
                else if (h >= 'A' && h <= 'F')
                    cp |= static_cast<uint32_t>(h - 'A' + 10);
                else
                    return syntax_error(j + k + 1, "\\u needs four hex digits");
            }
            j += 4;
            append_utf8(out, cp);
            break;
        }
        default:
            return syntax_error(j - 1, std::string("unknown escape \\") + e +
                                           " (use \\\" \\' \\\\ \\n \\t \\r \\0 \\uXXXX)");
    }
    return Status::ok();
}

// A string in the quotes at S[I] (" or '), with its escapes decoded.
Status lex_string(std::string_view s, size_t& i, Token& t) {
    const char quote = s[i];
    size_t j = i + 1;
    t.kind = Tok::kString;
    bool closed = false;
    while (j < s.size()) {
        char x = s[j];
        if (x == quote) {
            closed = true;
            ++j;
            break;
        }
        if (x != '\\') {
            t.text += x;
            ++j;
            continue;
        }
        if (j + 1 >= s.size()) break;
        OUTPOST_RETURN_IF_ERROR(lex_escape(s, j, t.text));
    }
    if (!closed) return syntax_error(t.col, "string not closed");
    i = j;
    return Status::ok();
}

bool number_start(std::string_view s, size_t i) {
    char c = s[i];
    return digit(c) || (c == '-' && i + 1 < s.size() && (digit(s[i + 1]) || s[i + 1] == '.')) ||
           (c == '.' && i + 1 < s.size() && digit(s[i + 1]));
}

// An integer or a floating-point number at S[I].
Status lex_number(std::string_view s, size_t& i, Token& t) {
    size_t j = i + (s[i] == '-' ? 1 : 0);
    bool is_float = false;
    while (j < s.size() && digit(s[j])) ++j;
    if (j < s.size() && s[j] == '.') {
        is_float = true;
        ++j;
        while (j < s.size() && digit(s[j])) ++j;
    }
    if (j < s.size() && (s[j] == 'e' || s[j] == 'E')) {
        is_float = true;
        ++j;
        if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
        if (j >= s.size() || !digit(s[j])) return syntax_error(j + 1, "exponent needs digits");
        while (j < s.size() && digit(s[j])) ++j;
    }
    if (j < s.size() && ident_char(s[j]))
        return syntax_error(j + 1, "unexpected character after number");
    std::string num(s.substr(i, j - i));
    errno = 0;
    if (is_float) {
        t.kind = Tok::kFloat;
        t.d = std::strtod(num.c_str(), nullptr);
    } else {
        t.kind = Tok::kInt;
        t.i = std::strtoll(num.c_str(), nullptr, 10);
    }
    if (errno == ERANGE) return syntax_error(t.col, "number out of range: " + num);
    i = j;
    return Status::ok();
}

// A comparison operator at S[I]; anything else there is an error.
Status lex_operator(std::string_view s, size_t& i, Token& t) {
    static const char* kOps[] = {"==", "!=", "<=", ">=", "^=", "$=", "*=", "<", ">"};
    for (const char* op : kOps) {
        std::string_view o(op);
        if (s.substr(i, o.size()) == o) {
            t.kind = Tok::kOp;
            t.text = std::string(o);
            i += o.size();
            return Status::ok();
        }
    }
    char c = s[i];
    if (c == '=') return syntax_error(t.col, "unexpected '=' (equality is ==)");
    if (c == '&' || c == '|')
        return syntax_error(t.col, "unexpected '" + std::string(1, c) + "' (use AND / OR)");
    return syntax_error(t.col, "unexpected character '" + std::string(1, c) + "'");
}

Result<std::vector<Token>> lex(std::string_view s) {
    std::vector<Token> out;
    size_t i = 0;
    while (true) {
        while (i < s.size() && space(s[i])) ++i;
        Token t;
        t.col = i + 1;
        if (i >= s.size()) {
            out.push_back(t);
            return out;
        }
        char c = s[i];
        if (ident_start(c)) {
            lex_path(s, i, t);
        } else if (c == '$' && i + 1 < s.size() && ident_start(s[i + 1]) && s[i + 1] != '@') {
            lex_param(s, i, t);
        } else if (c == '"' || c == '\'') {
            OUTPOST_RETURN_IF_ERROR(lex_string(s, i, t));
        } else if (number_start(s, i)) {
            OUTPOST_RETURN_IF_ERROR(lex_number(s, i, t));
        } else if (c == '(' || c == ')' || c == ',') {
            t.kind = c == '(' ? Tok::kLParen : c == ')' ? Tok::kRParen : Tok::kComma;
            t.text = std::string(1, c);
            ++i;
        } else {
            OUTPOST_RETURN_IF_ERROR(lex_operator(s, i, t));
        }
        out.push_back(std::move(t));
    }
}

bool keyword_eq(std::string_view a, std::string_view kw) {
    if (a.size() != kw.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        char x = a[i];
        if (x >= 'a' && x <= 'z') x = static_cast<char>(x - 'a' + 'A');
        if (x != kw[i]) return false;
    }
    return true;
}

bool is_reserved(std::string_view w) {
    for (const char* kw :
         {"AND", "OR", "NOT", "BETWEEN", "IN", "IS", "NULL", "CONTAINS", "CI", "TRUE", "FALSE"}) {
        if (keyword_eq(w, kw)) return true;
    }
    return false;
}

std::string describe(const Token& t) {
    switch (t.kind) {
        case Tok::kEnd:
            return "the end";
        case Tok::kString:
            return "a string";
        case Tok::kInt:
        case Tok::kFloat:
            return "a number";
        case Tok::kParam:
            return "$" + t.text;
        default:
            return "'" + t.text + "'";
    }
}

class Parser {
  public:
    explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}

    Result<Condition> parse() {
        OUTPOST_ASSIGN_OR_RETURN(Condition c, or_expr());
        if (peek().kind != Tok::kEnd) return expected("AND, OR or the end");
        return c;
    }

  private:
    const Token& peek() const { return t_[pos_]; }
    const Token& next() { return t_[pos_ < t_.size() - 1 ? pos_++ : pos_]; }
    bool is_kw(const char* kw) const {
        return peek().kind == Tok::kIdent && keyword_eq(peek().text, kw);
    }
    bool accept_kw(const char* kw) {
        if (!is_kw(kw)) return false;
        next();
        return true;
    }
    Status expected(const std::string& what) const {
        return syntax_error(peek().col, "expected " + what + ", found " + describe(peek()));
    }

    Result<Condition> or_expr() {
        std::vector<Condition> parts;
        OUTPOST_ASSIGN_OR_RETURN(Condition first, and_expr());
        parts.push_back(std::move(first));
        while (accept_kw("OR")) {
            OUTPOST_ASSIGN_OR_RETURN(Condition c, and_expr());
            parts.push_back(std::move(c));
        }
        if (parts.size() == 1) return parts[0];
        return Condition::any_of(std::move(parts));
    }

    Result<Condition> and_expr() {
        std::vector<Condition> parts;
        OUTPOST_ASSIGN_OR_RETURN(Condition first, unary());
        parts.push_back(std::move(first));
        while (accept_kw("AND")) {
            OUTPOST_ASSIGN_OR_RETURN(Condition c, unary());
            parts.push_back(std::move(c));
        }
        if (parts.size() == 1) return parts[0];
        return Condition::all_of(std::move(parts));
    }

    Result<Condition> unary() {
        if (++depth_ > 200) return syntax_error(peek().col, "nested too deeply");
        struct Leave {
            int& d;
            ~Leave() { --d; }
        } leave{depth_};
        if (accept_kw("NOT")) {
            OUTPOST_ASSIGN_OR_RETURN(Condition c, unary());
            return Condition::negate(std::move(c));
        }
        if (peek().kind == Tok::kLParen) {
            next();
            OUTPOST_ASSIGN_OR_RETURN(Condition c, or_expr());
            if (peek().kind != Tok::kRParen) return expected("')'");
            next();
            return c;
        }
        if (accept_kw("TRUE")) return Condition::all_of({});
        if (accept_kw("FALSE")) return Condition::any_of({});
        return comparison();
    }

    // A literal or a parameter: sets *PARAM for `$name`, else fills *V.
    Status value(Value* v, std::string* param, const std::string& after) {
        const Token& t = peek();
        switch (t.kind) {
            case Tok::kString:
                *v = Value(t.text);
                break;
            case Tok::kInt:
                *v = Value(t.i);
                break;
            case Tok::kFloat:
                *v = Value(t.d);
                break;
            case Tok::kParam:
                *param = t.text;
                break;
            case Tok::kIdent:
                if (keyword_eq(t.text, "TRUE")) {
                    *v = Value(true);
                } else if (keyword_eq(t.text, "FALSE")) {
                    *v = Value(false);
                } else if (keyword_eq(t.text, "NULL")) {
                    *v = Value();
                } else {
                    return expected("a value after " + after);
                }
                break;
            default:
                return expected("a value after " + after);
        }
        next();
        return Status::ok();
    }

    // One operand (a value or a $parameter) of N after AFTER; a null is the error NO_NULL at
    // OP_COL.
    Status operand(CondNode& n, const std::string& after, size_t op_col, const char* no_null) {
        Value v;
        std::string param;
        OUTPOST_RETURN_IF_ERROR(value(&v, &param, after));
        if (param.empty() && v.is_null()) return syntax_error(op_col, no_null);
        n.operands.push_back(std::move(v));
        n.slot_params.push_back(std::move(param));
        return Status::ok();
    }

    // `path OP value` (the operator token is next). False when the value is null: an IS NULL test,
    // which takes no CI.
    Result<bool> compare_op(CondNode& n, size_t op_col) {
        std::string o = peek().text;
        next();
        Value v;
        std::string param;
        OUTPOST_RETURN_IF_ERROR(value(&v, &param, "'" + o + "'"));
        if (param.empty() && v.is_null()) {
            if (o != "==" && o != "!=")
                return syntax_error(op_col, "null compares only with == and !=");
            n.op = o == "==" ? QueryOp::kIsNull : QueryOp::kIsNotNull;
            return false;
        }
        if (o == "==") n.op = QueryOp::kEqual;
        if (o == "!=") n.op = QueryOp::kNotEqual;
        if (o == "<") n.op = QueryOp::kLess;
        if (o == "<=") n.op = QueryOp::kLessOrEqual;
        if (o == ">") n.op = QueryOp::kGreater;
        if (o == ">=") n.op = QueryOp::kGreaterOrEqual;
        if (o == "^=") n.op = QueryOp::kStartsWith;
        if (o == "$=") n.op = QueryOp::kEndsWith;
        if (o == "*=") n.op = QueryOp::kContains;
        n.operands.push_back(std::move(v));
        n.slot_params.push_back(std::move(param));
        return true;
    }

    // `path BETWEEN lo AND hi` (after BETWEEN).
    Status between(CondNode& n, size_t op_col) {
        n.op = QueryOp::kBetween;
        OUTPOST_RETURN_IF_ERROR(operand(n, "BETWEEN", op_col, "BETWEEN takes no null bound"));
        if (!accept_kw("AND")) return expected("AND between the bounds of BETWEEN");
        return operand(n, "AND", op_col, "BETWEEN takes no null bound");
    }

    // `path IN (a, b, ...)` or `path IN $list` (after IN).
    Status in_list(CondNode& n, size_t op_col) {
        n.op = QueryOp::kIn;
        if (peek().kind == Tok::kParam) {
            n.list_param = peek().text;
            next();
            return Status::ok();
        }
        if (peek().kind != Tok::kLParen) return expected("'(' or a $parameter after IN");
        next();
        while (peek().kind != Tok::kRParen) {
            if (!n.operands.empty()) {
                if (peek().kind != Tok::kComma) return expected("',' or ')'");
                next();
            }
            OUTPOST_RETURN_IF_ERROR(
                operand(n, n.operands.empty() ? "'('" : "','", op_col, "IN lists take no null"));
        }
        next();
        return Status::ok();
    }

    // `path IS NULL` or `path IS NOT NULL` (after IS).
    Status is_null(CondNode& n) {
        bool negated = accept_kw("NOT");
        if (!accept_kw("NULL"))
            return expected(negated ? "NULL after IS NOT" : "NULL or NOT NULL after IS");
        n.op = negated ? QueryOp::kIsNotNull : QueryOp::kIsNull;
        return Status::ok();
    }

    Result<Condition> comparison() {
        const Token& pt = peek();
        if (pt.kind != Tok::kIdent || is_reserved(pt.text))
            return expected("a property name, NOT or '('");
        auto n = std::make_shared<CondNode>();
        n->path = pt.text;
        size_t path_col = pt.col;
        next();
        size_t op_col = peek().col;
        bool takes_ci = true;
        if (peek().kind == Tok::kOp) {
            OUTPOST_ASSIGN_OR_RETURN(takes_ci, compare_op(*n, op_col));
        } else if (accept_kw("BETWEEN")) {
            OUTPOST_RETURN_IF_ERROR(between(*n, op_col));
        } else if (accept_kw("IN")) {
            OUTPOST_RETURN_IF_ERROR(in_list(*n, op_col));
        } else if (accept_kw("IS")) {
            OUTPOST_RETURN_IF_ERROR(is_null(*n));
            takes_ci = false;
        } else if (accept_kw("CONTAINS")) {
            n->op = QueryOp::kVectorContains;
            OUTPOST_RETURN_IF_ERROR(operand(*n, "CONTAINS", op_col, "CONTAINS takes no null"));
        } else {
            return syntax_error(op_col,
                                "expected an operator after " + n->path + " (column " +
                                    std::to_string(path_col) +
                                    "): == != < <= > >= ^= $= *= BETWEEN IN IS CONTAINS; found " +
                                    describe(peek()));
        }
        if (takes_ci && accept_kw("CI")) n->case_sensitive = false;
        return detail::Access::condition(std::move(n));
    }

    std::vector<Token> t_;
    size_t pos_ = 0;
    int depth_ = 0;
};

}  // namespace

Result<Condition> parse_condition(std::string_view text) {
    OUTPOST_ASSIGN_OR_RETURN(auto toks, lex(text));
    if (toks.size() == 1) return syntax_error(1, "empty condition");
    return Parser(std::move(toks)).parse();
}

}  // namespace outpost
