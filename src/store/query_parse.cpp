// The query text syntax (docs/queries.md has the grammar): a hand-written lexer and a recursive-descent
// parser producing a Condition. Paths are not checked here; QueryBuilder::build resolves them.
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

bool ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '@'; }
bool ident_char(char c) { return ident_start(c) || (c >= '0' && c <= '9'); }
bool digit(char c) { return c >= '0' && c <= '9'; }

Status syntax_error(size_t col, const std::string& what) {
    return Status(ErrorCode::kInvalidArgument, "query syntax: column " + std::to_string(col) + ": " + what);
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

Result<std::vector<Token>> lex(std::string_view s) {
    std::vector<Token> out;
    size_t i = 0;
    while (true) {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
        Token t;
        t.col = i + 1;
        if (i >= s.size()) {
            out.push_back(t);
            return out;
        }
        char c = s[i];
        if (ident_start(c)) {
            size_t j = i + 1;
            // A path: identifiers joined by dots (owner.name, @Task.owner.done).
            while (j < s.size() && (ident_char(s[j]) || (s[j] == '.' && j + 1 < s.size() && ident_start(s[j + 1])))) {
                ++j;
            }
            t.kind = Tok::kIdent;
            t.text = std::string(s.substr(i, j - i));
            i = j;
        } else if (c == '$' && i + 1 < s.size() && ident_start(s[i + 1]) && s[i + 1] != '@') {
            // Parameter names may have dots: $auth.sub (sync rules name claims so).
            size_t j = i + 1;
            while (j < s.size() && ((ident_char(s[j]) && s[j] != '@') ||
                                    (s[j] == '.' && j + 1 < s.size() && ident_start(s[j + 1]) && s[j + 1] != '@'))) {
                ++j;
            }
            t.kind = Tok::kParam;
            t.text = std::string(s.substr(i + 1, j - i - 1));
            i = j;
        } else if (c == '"' || c == '\'') {
            size_t j = i + 1;
            t.kind = Tok::kString;
            bool closed = false;
            while (j < s.size()) {
                char x = s[j];
                if (x == c) {
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
                char e = s[j + 1];
                j += 2;
                switch (e) {
                    case '"': t.text += '"'; break;
                    case '\'': t.text += '\''; break;
                    case '\\': t.text += '\\'; break;
                    case '/': t.text += '/'; break;
                    case 'n': t.text += '\n'; break;
                    case 't': t.text += '\t'; break;
                    case 'r': t.text += '\r'; break;
                    case '0': t.text += '\0'; break;
                    case 'u': {
                        if (j + 4 > s.size()) return syntax_error(j - 1, "\\u needs four hex digits");
                        uint32_t cp = 0;
                        for (size_t k = 0; k < 4; ++k) {
                            char h = s[j + k];
                            cp <<= 4;
                            if (digit(h)) cp |= static_cast<uint32_t>(h - '0');
                            else if (h >= 'a' && h <= 'f') cp |= static_cast<uint32_t>(h - 'a' + 10);
                            else if (h >= 'A' && h <= 'F') cp |= static_cast<uint32_t>(h - 'A' + 10);
                            else return syntax_error(j + k + 1, "\\u needs four hex digits");
                        }
                        j += 4;
                        append_utf8(t.text, cp);
                        break;
                    }
                    default:
                        return syntax_error(j - 1, std::string("unknown escape \\") + e +
                                                       " (use \\\" \\' \\\\ \\n \\t \\r \\0 \\uXXXX)");
                }
            }
            if (!closed) return syntax_error(t.col, "string not closed");
            i = j;
        } else if (digit(c) || (c == '-' && i + 1 < s.size() && (digit(s[i + 1]) || s[i + 1] == '.')) ||
                   (c == '.' && i + 1 < s.size() && digit(s[i + 1]))) {
            size_t j = i + (c == '-' ? 1 : 0);
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
            if (j < s.size() && ident_char(s[j])) return syntax_error(j + 1, "unexpected character after number");
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
        } else if (c == '(' || c == ')' || c == ',') {
            t.kind = c == '(' ? Tok::kLParen : c == ')' ? Tok::kRParen : Tok::kComma;
            t.text = std::string(1, c);
            ++i;
        } else {
            static const char* kOps[] = {"==", "!=", "<=", ">=", "^=", "$=", "*=", "<", ">"};
            bool matched = false;
            for (const char* op : kOps) {
                std::string_view o(op);
                if (s.substr(i, o.size()) == o) {
                    t.kind = Tok::kOp;
                    t.text = std::string(o);
                    i += o.size();
                    matched = true;
                    break;
                }
            }
            if (!matched) {
                if (c == '=') return syntax_error(t.col, "unexpected '=' (equality is ==)");
                if (c == '&' || c == '|') return syntax_error(t.col, "unexpected '" + std::string(1, c) + "' (use AND / OR)");
                return syntax_error(t.col, "unexpected character '" + std::string(1, c) + "'");
            }
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
    for (const char* kw : {"AND", "OR", "NOT", "BETWEEN", "IN", "IS", "NULL", "CONTAINS", "CI", "TRUE", "FALSE"}) {
        if (keyword_eq(w, kw)) return true;
    }
    return false;
}

std::string describe(const Token& t) {
    switch (t.kind) {
        case Tok::kEnd: return "the end";
        case Tok::kString: return "a string";
        case Tok::kInt:
        case Tok::kFloat: return "a number";
        case Tok::kParam: return "$" + t.text;
        default: return "'" + t.text + "'";
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
    bool is_kw(const char* kw) const { return peek().kind == Tok::kIdent && keyword_eq(peek().text, kw); }
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
            case Tok::kString: *v = Value(t.text); break;
            case Tok::kInt: *v = Value(t.i); break;
            case Tok::kFloat: *v = Value(t.d); break;
            case Tok::kParam: *param = t.text; break;
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
            default: return expected("a value after " + after);
        }
        next();
        return Status::ok();
    }

    Result<Condition> comparison() {
        const Token& pt = peek();
        if (pt.kind != Tok::kIdent || is_reserved(pt.text)) return expected("a property name, NOT or '('");
        std::string path = pt.text;
        size_t path_col = pt.col;
        next();
        auto n = std::make_shared<CondNode>();
        n->path = path;
        const Token& op = peek();
        size_t op_col = op.col;
        if (op.kind == Tok::kOp) {
            std::string o = op.text;
            next();
            Value v;
            std::string param;
            OUTPOST_RETURN_IF_ERROR(value(&v, &param, "'" + o + "'"));
            if (param.empty() && v.is_null()) {
                if (o != "==" && o != "!=") return syntax_error(op_col, "null compares only with == and !=");
                n->op = o == "==" ? QueryOp::kIsNull : QueryOp::kIsNotNull;
                return detail::Access::condition(std::move(n));
            }
            if (o == "==") n->op = QueryOp::kEqual;
            if (o == "!=") n->op = QueryOp::kNotEqual;
            if (o == "<") n->op = QueryOp::kLess;
            if (o == "<=") n->op = QueryOp::kLessOrEqual;
            if (o == ">") n->op = QueryOp::kGreater;
            if (o == ">=") n->op = QueryOp::kGreaterOrEqual;
            if (o == "^=") n->op = QueryOp::kStartsWith;
            if (o == "$=") n->op = QueryOp::kEndsWith;
            if (o == "*=") n->op = QueryOp::kContains;
            n->operands.push_back(std::move(v));
            n->slot_params.push_back(std::move(param));
        } else if (accept_kw("BETWEEN")) {
            n->op = QueryOp::kBetween;
            for (int k = 0; k < 2; ++k) {
                if (k == 1 && !accept_kw("AND")) return expected("AND between the bounds of BETWEEN");
                Value v;
                std::string param;
                OUTPOST_RETURN_IF_ERROR(value(&v, &param, k == 0 ? "BETWEEN" : "AND"));
                if (param.empty() && v.is_null()) return syntax_error(op_col, "BETWEEN takes no null bound");
                n->operands.push_back(std::move(v));
                n->slot_params.push_back(std::move(param));
            }
        } else if (accept_kw("IN")) {
            n->op = QueryOp::kIn;
            if (peek().kind == Tok::kParam) {
                n->list_param = peek().text;
                next();
            } else {
                if (peek().kind != Tok::kLParen) return expected("'(' or a $parameter after IN");
                next();
                while (peek().kind != Tok::kRParen) {
                    if (!n->operands.empty()) {
                        if (peek().kind != Tok::kComma) return expected("',' or ')'");
                        next();
                    }
                    Value v;
                    std::string param;
                    OUTPOST_RETURN_IF_ERROR(value(&v, &param, n->operands.empty() ? "'('" : "','"));
                    if (param.empty() && v.is_null()) return syntax_error(op_col, "IN lists take no null");
                    n->operands.push_back(std::move(v));
                    n->slot_params.push_back(std::move(param));
                }
                next();
            }
        } else if (accept_kw("IS")) {
            bool negated = accept_kw("NOT");
            if (!accept_kw("NULL")) return expected(negated ? "NULL after IS NOT" : "NULL or NOT NULL after IS");
            n->op = negated ? QueryOp::kIsNotNull : QueryOp::kIsNull;
            return detail::Access::condition(std::move(n));
        } else if (accept_kw("CONTAINS")) {
            n->op = QueryOp::kVectorContains;
            Value v;
            std::string param;
            OUTPOST_RETURN_IF_ERROR(value(&v, &param, "CONTAINS"));
            if (param.empty() && v.is_null()) return syntax_error(op_col, "CONTAINS takes no null");
            n->operands.push_back(std::move(v));
            n->slot_params.push_back(std::move(param));
        } else {
            return syntax_error(op_col, "expected an operator after " + path + " (column " +
                                            std::to_string(path_col) +
                                            "): == != < <= > >= ^= $= *= BETWEEN IN IS CONTAINS; found " +
                                            describe(peek()));
        }
        if (accept_kw("CI")) n->case_sensitive = false;
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
