// json.cpp — see json.h.
#include "json.h"

#include <cstdlib>
#include <stdexcept>

#include <fmt/core.h>

namespace dime::cli::json {
namespace {

const Value kNull{};

struct Parser {
    std::string_view s;
    size_t i = 0;

    [[noreturn]] void error(const char* what) const {
        throw std::runtime_error(fmt::format("{} at byte {}", what, i));
    }
    void space() {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) ++i;
    }
    bool take(char c) {
        space();
        if (i < s.size() && s[i] == c) {
            ++i;
            return true;
        }
        return false;
    }
    void expect(char c) {
        if (!take(c)) error(fmt::format("expected '{}'", c).c_str());
    }
    std::string string() {
        expect('"');
        std::string out;
        while (i < s.size() && s[i] != '"') {
            if (s[i] == '\\' && i + 1 < s.size()) {
                const char e = s[++i];
                switch (e) {
                    case 'n': out += '\n'; break;
                    case 't': out += '\t'; break;
                    case 'r': out += '\r'; break;
                    case 'b': out += '\b'; break;
                    case 'f': out += '\f'; break;
                    case 'u': out += "\\u"; break;  // kept as written: DiME escapes only control characters
                    default: out += e;
                }
                ++i;
            } else {
                out += s[i++];
            }
        }
        if (i >= s.size()) error("unterminated string");
        ++i;
        return out;
    }
    Value value(int depth) {
        if (depth > 64) error("nested too deeply");
        space();
        if (i >= s.size()) error("unexpected end");
        Value v;
        const char c = s[i];
        if (c == '{') {
            ++i;
            v.kind = Value::Kind::object;
            if (take('}')) return v;
            do {
                space();
                std::string key = string();
                expect(':');
                v.members[key] = value(depth + 1);
            } while (take(','));
            expect('}');
        } else if (c == '[') {
            ++i;
            v.kind = Value::Kind::array;
            if (take(']')) return v;
            do v.items.push_back(value(depth + 1));
            while (take(','));
            expect(']');
        } else if (c == '"') {
            v.kind = Value::Kind::string;
            v.text = string();
        } else if (s.substr(i, 4) == "true" || s.substr(i, 5) == "false") {
            v.kind = Value::Kind::boolean;
            v.flag = s[i] == 't';
            i += v.flag ? 4 : 5;
        } else if (s.substr(i, 4) == "null") {
            i += 4;
        } else {
            const std::string rest(s.substr(i, 40));
            char* end = nullptr;
            v.number = std::strtod(rest.c_str(), &end);
            if (end == rest.c_str()) error("unexpected character");
            v.kind = Value::Kind::number;
            i += static_cast<size_t>(end - rest.c_str());
        }
        return v;
    }
};

}  // namespace

const Value& Value::operator[](const std::string& key) const {
    if (kind != Kind::object) return kNull;
    auto it = members.find(key);
    return it == members.end() ? kNull : it->second;
}

const Value& Value::operator[](size_t i) const { return kind == Kind::array && i < items.size() ? items[i] : kNull; }

std::string Value::as_text(const std::string& otherwise) const {
    switch (kind) {
        case Kind::string: return text;
        case Kind::number: return number == static_cast<double>(static_cast<long long>(number))
                                      ? std::to_string(static_cast<long long>(number))
                                      : fmt::format("{}", number);
        case Kind::boolean: return flag ? "true" : "false";
        default: return otherwise;
    }
}

Value parse(std::string_view text) {
    Parser p{text};
    Value v = p.value(0);
    p.space();
    if (p.i != text.size()) p.error("trailing characters");
    return v;
}

}  // namespace dime::cli::json
