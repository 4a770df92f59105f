// json.h — a small JSON reader for the files DiME itself writes (reports, time series), used by
// `dime report`: objects, arrays, strings (with \u escapes kept as written), numbers, true,
// false, null. Throws std::runtime_error with the byte offset on malformed input.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dime::cli::json {

struct Value {
    enum class Kind { null, boolean, number, string, array, object } kind = Kind::null;
    bool flag = false;
    double number = 0;
    std::string text;
    std::vector<Value> items;
    std::map<std::string, Value> members;

    // The member `key` of an object, or a null value (also for a non-object).
    const Value& operator[](const std::string& key) const;
    const Value& operator[](size_t i) const;
    double as_number(double otherwise = 0) const { return kind == Kind::number ? number : otherwise; }
    std::string as_text(const std::string& otherwise = "") const;
    bool is_object() const { return kind == Kind::object; }
    bool is_array() const { return kind == Kind::array; }
    bool has(const std::string& key) const { return is_object() && members.count(key); }
};

Value parse(std::string_view text);

}  // namespace dime::cli::json
