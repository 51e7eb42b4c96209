// Durations written by people (see duration.hpp).
#include "ferry/duration.hpp"

#include <cctype>
#include <cstdlib>
#include <string>

#include "ferry/error.hpp"

namespace ferry {
namespace {

[[noreturn]] void invalid(std::string_view text) {
    throw Error(ErrorKind::invalid_input, "invalid duration \"" + std::string(text) + "\"", "",
                "Write seconds (90), or a number and a unit: 30 seconds, 5 minutes, 2 hours, "
                "1 day; or hh:mm:ss.");
}

double unit_seconds(std::string_view unit, std::string_view whole) {
    std::string u;
    for (char c : unit)
        u += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (u.empty() || u == "s" || u == "sec" || u == "secs" || u == "second" || u == "seconds")
        return 1;
    if (u == "m" || u == "min" || u == "mins" || u == "minute" || u == "minutes")
        return 60;
    if (u == "h" || u == "hour" || u == "hours")
        return 3600;
    if (u == "d" || u == "day" || u == "days")
        return 86400;
    invalid(whole);
}

// hh:mm:ss or hh:mm.
double clock_duration(std::string_view text) {
    double total = 0;
    size_t fields = 0;
    size_t start = 0;
    while (true) {
        size_t colon = text.find(':', start);
        std::string field(
            text.substr(start, colon == std::string_view::npos ? colon : colon - start));
        char* end = nullptr;
        double value = std::strtod(field.c_str(), &end);
        if (field.empty() || *end != '\0' || value < 0 ||
            !std::isdigit(static_cast<unsigned char>(field[0])))
            invalid(text);
        total = total * 60 + value;
        fields++;
        if (colon == std::string_view::npos)
            break;
        start = colon + 1;
    }
    if (fields < 2 || fields > 3)
        invalid(text);
    return fields == 2 ? total * 60 : total;
}

}  // namespace

double parse_duration(std::string_view text) {
    if (text.find(':') != std::string_view::npos)
        return clock_duration(text);
    double total = 0;
    size_t i = 0;
    int parts = 0;
    bool bare_number = false;  // a part without a unit: seconds, only when alone
    auto skip_space = [&] {
        while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])))
            i++;
    };
    skip_space();
    while (i < text.size()) {
        size_t start = i;
        while (i < text.size() &&
               (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
            i++;
        std::string number(text.substr(start, i - start));
        char* end = nullptr;
        double value = std::strtod(number.c_str(), &end);
        if (number.empty() || *end != '\0')
            invalid(text);
        skip_space();
        size_t unit_start = i;
        while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i])))
            i++;
        bare_number = bare_number || i == unit_start;
        total += value * unit_seconds(text.substr(unit_start, i - unit_start), text);
        parts++;
        skip_space();
    }
    // "1h30" could mean 1 h 30 min as well as 1 h 30 s: refused.
    if (parts == 0 || (bare_number && parts > 1))
        invalid(text);
    return total;
}

}  // namespace ferry
