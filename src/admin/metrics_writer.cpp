#include "admin/metrics_writer.hpp"

#include <cmath>
#include <cstdio>

namespace outpost::admin {

namespace {

// A sample value: integers without exponent or fraction, others with full precision.
void append_number(std::string& out, double v) {
    if (std::isnan(v)) {
        out += "NaN";
    } else if (std::isinf(v)) {
        out += v > 0 ? "+Inf" : "-Inf";
    } else {
        char buf[32];
        const bool integral = std::trunc(v) == v && std::fabs(v) < 1e15;
        std::snprintf(buf, sizeof buf, integral ? "%.0f" : "%.17g", v);
        out += buf;
    }
}

// HELP text escapes backslash and newline; label values also the double quote.
void append_escaped(std::string& out, std::string_view s, bool quote) {
    for (char c : s) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '"' && quote) {
            out += "\\\"";
        } else {
            out += c;
        }
    }
}

const char* type_name(MetricsWriter::Type t) {
    switch (t) {
        case MetricsWriter::Type::kCounter:
            return "counter";
        case MetricsWriter::Type::kGauge:
            return "gauge";
        case MetricsWriter::Type::kHistogram:
            return "histogram";
    }
    return "untyped";
}

}  // namespace

void MetricsWriter::begin(std::string_view name, Type type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    append_escaped(out_, help, false);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type_name(type);
    out_ += '\n';
}

void MetricsWriter::sample(std::string_view name, double value, const Labels& labels) {
    out_ += name;
    if (!labels.empty()) {
        out_ += '{';
        for (size_t i = 0; i < labels.size(); ++i) {
            if (i) out_ += ',';
            out_ += labels[i].first;
            out_ += "=\"";
            append_escaped(out_, labels[i].second, true);
            out_ += '"';
        }
        out_ += '}';
    }
    out_ += ' ';
    append_number(out_, value);
    out_ += '\n';
}

void MetricsWriter::counter(std::string_view name, std::string_view help, double value) {
    begin(name, Type::kCounter, help);
    sample(name, value);
}

void MetricsWriter::gauge(std::string_view name, std::string_view help, double value) {
    begin(name, Type::kGauge, help);
    sample(name, value);
}

void MetricsWriter::histogram(std::string_view name, std::string_view help,
                              std::span<const double> bounds, std::span<const uint64_t> counts,
                              double sum) {
    begin(name, Type::kHistogram, help);
    const std::string base(name);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < bounds.size() && i < counts.size(); ++i) {
        cumulative += counts[i];
        std::string le;
        append_number(le, bounds[i]);
        sample(base + "_bucket", static_cast<double>(cumulative), {{"le", le}});
    }
    if (counts.size() > bounds.size()) cumulative += counts[bounds.size()];
    sample(base + "_bucket", static_cast<double>(cumulative), {{"le", "+Inf"}});
    sample(base + "_sum", sum);
    sample(base + "_count", static_cast<double>(cumulative));
}

}  // namespace outpost::admin
