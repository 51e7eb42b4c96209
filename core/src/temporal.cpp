// Canonical dates and times (see temporal.hpp).
#include "ferry/temporal.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <cstdio>

namespace ferry::canonical {
namespace {

// A cursor over the input that reads fixed-width digit groups.
class Reader {
  public:
    explicit Reader(std::string_view text) : text_(text) {}

    bool at_end() const { return pos_ == text_.size(); }
    char peek() const { return at_end() ? '\0' : text_[pos_]; }
    bool accept(char c) {
        if (peek() != c)
            return false;
        pos_++;
        return true;
    }
    // From `width` up to `most` digits (PostgreSQL prints years past 9999
    // with five or six); false (and nothing consumed) with fewer.
    bool digits(int width, int most, int& out) {
        size_t start = pos_;
        if (!digits(width, out))
            return false;
        while (pos_ - start < static_cast<size_t>(most) &&
               std::isdigit(static_cast<unsigned char>(peek())))
            out = out * 10 + (text_[pos_++] - '0');
        return true;
    }
    // Exactly `width` digits; false (and nothing consumed) otherwise.
    bool digits(int width, int& out) {
        if (pos_ + width > text_.size())
            return false;
        int value = 0;
        for (int i = 0; i < width; i++) {
            char c = text_[pos_ + i];
            if (c < '0' || c > '9')
                return false;
            value = value * 10 + (c - '0');
        }
        pos_ += width;
        out = value;
        return true;
    }
    // Fraction digits after a point, in microseconds. More than six (.NET
    // writes seven, Go and Java up to nine) are rounded as PostgreSQL rounds
    // them, which reads the fraction as a double and rounds its microseconds
    // to the nearest (ties to even): 1,000,000 when it rounds up to a whole
    // second, which the caller carries.
    bool fraction(int& microseconds) {
        size_t start = pos_;
        while (std::isdigit(static_cast<unsigned char>(peek())))
            pos_++;
        size_t count = pos_ - start;
        if (count == 0 || count > 30)
            return false;
        if (count > 6) {
            std::string digits = "0." + std::string(text_.substr(start, count));
            microseconds = static_cast<int>(std::rint(std::strtod(digits.c_str(), nullptr) * 1e6));
            return true;
        }
        microseconds = 0;
        for (size_t i = 0; i < 6; i++)
            microseconds = microseconds * 10 + (i < count ? text_[start + i] - '0' : 0);
        return true;
    }

  private:
    std::string_view text_;
    size_t pos_ = 0;
};

struct Parsed {
    bool has_date = false, has_time = false, has_zone = false;
    int year = 0, month = 0, day = 0;
    int hour = 0, minute = 0, second = 0, microsecond = 0;
    int zone_seconds = 0;  // east of UTC
};

bool leap(int year) {
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int days_in_month(int year, int month) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && leap(year) ? 29 : days[month - 1];
}

bool read_date(Reader& in, Parsed& out, bool before_christ) {
    if (!in.digits(4, 6, out.year) || !in.accept('-') || !in.digits(2, out.month) ||
        !in.accept('-') || !in.digits(2, out.day))
        return false;
    if (before_christ) {
        if (out.year < 1)
            return false;
        out.year = 1 - out.year;  // 1 BC is year 0 of the proleptic Gregorian calendar
    }
    if (out.month < 1 || out.month > 12 || out.day < 1 ||
        out.day > days_in_month(out.year, out.month))
        return false;
    out.has_date = true;
    return true;
}

bool read_time(Reader& in, Parsed& out) {
    if (!in.digits(2, out.hour) || !in.accept(':') || !in.digits(2, out.minute))
        return false;
    if (in.accept(':')) {
        if (!in.digits(2, out.second))
            return false;
        if (in.accept('.') && !in.fraction(out.microsecond))
            return false;
    }
    // 24:00:00 is a valid end of day in PostgreSQL; nothing past it is.
    bool end_of_day = out.hour == 24 && out.minute == 0 && out.second == 0 && out.microsecond == 0;
    if ((out.hour > 23 && !end_of_day) || out.minute > 59 || out.second > 59)
        return false;
    if (out.microsecond == 1000000) {  // rounded up: 23:59:59.9999999 is 24:00:00
        out.microsecond = 0;
        out.second++;
        out.minute += out.second / 60;
        out.second %= 60;
        out.hour += out.minute / 60;
        out.minute %= 60;
    }
    out.has_time = true;
    return true;
}

bool read_zone(Reader& in, Parsed& out) {
    in.accept(' ');
    if (in.accept('Z') || in.accept('z')) {
        out.has_zone = true;
        return true;
    }
    int sign = in.accept('+') ? 1 : in.accept('-') ? -1 : 0;
    if (sign == 0)
        return false;
    int hours = 0, minutes = 0, seconds = 0;
    if (!in.digits(2, hours))
        return false;
    if (in.accept(':')) {
        // Seconds too: a zone's local mean time before it took a standard
        // offset, e.g. Europe/Paris in 1900 is +00:09:21.
        if (!in.digits(2, minutes) || (in.accept(':') && !in.digits(2, seconds)))
            return false;
    } else {
        in.digits(2, minutes);
    }
    if (hours > 15 || minutes > 59 || seconds > 59)
        return false;
    out.zone_seconds = sign * (hours * 3600 + minutes * 60 + seconds);
    out.has_zone = true;
    return true;
}

// PostgreSQL's era suffix, " BC", ends its text of a date before year 1.
constexpr std::string_view kBeforeChrist = " BC";

std::optional<Parsed> parse(std::string_view text) {
    bool before_christ = text.size() > kBeforeChrist.size() &&
                         text.substr(text.size() - kBeforeChrist.size()) == kBeforeChrist;
    if (before_christ)
        text.remove_suffix(kBeforeChrist.size());
    Reader in(text);
    Parsed out;
    if (read_date(in, out, before_christ)) {
        if (in.at_end())
            return out;
        if (!(in.accept('T') || in.accept('t') || in.accept(' ')))
            return std::nullopt;
    }
    if (!out.has_date && before_christ)
        return std::nullopt;
    if (!read_time(in, out))
        return std::nullopt;
    if (!in.at_end() && !read_zone(in, out))
        return std::nullopt;
    if (!in.at_end())
        return std::nullopt;
    return out;
}

// Days since 1970-01-01 of a proleptic Gregorian date, and back
// (Howard Hinnant's civil calendar algorithms).
int64_t days_from_civil(int64_t year, int month, int day) {
    year -= month <= 2;
    int64_t era = (year >= 0 ? year : year - 399) / 400;
    int64_t year_of_era = year - era * 400;
    int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

void civil_from_days(int64_t days, Parsed& out) {
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t day_of_era = days - era * 146097;
    int64_t year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    int64_t mp = (5 * day_of_year + 2) / 153;
    out.day = static_cast<int>(day_of_year - (153 * mp + 2) / 5 + 1);
    out.month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
    out.year = static_cast<int>(year_of_era + era * 400 + (out.month <= 2));
}

// Moves a date and time by the zone offset so that it is in UTC.
void to_utc(Parsed& p) {
    int64_t seconds = days_from_civil(p.year, p.month, p.day) * 86400 + p.hour * 3600 +
                      p.minute * 60 + p.second - p.zone_seconds;
    int64_t days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400;
    int64_t second_of_day = seconds - days * 86400;
    civil_from_days(days, p);
    p.hour = static_cast<int>(second_of_day / 3600);
    p.minute = static_cast<int>(second_of_day / 60 % 60);
    p.second = static_cast<int>(second_of_day % 60);
}

// Years before 1 as PostgreSQL prints them: counted back from 1 BC, with
// era() at the very end of the text.
std::string format_date(const Parsed& p) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", p.year > 0 ? p.year : 1 - p.year, p.month,
                  p.day);
    return buf;
}

std::string_view era(const Parsed& p) {
    return p.year > 0 ? std::string_view() : kBeforeChrist;
}

std::string format_time(const Parsed& p) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%02d:%02d:%02d.%06d", p.hour, p.minute, p.second,
                  p.microsecond);
    return buf;
}

bool is_infinity(std::string_view text) {
    return text == "infinity" || text == "-infinity";
}

}  // namespace

std::optional<std::string> normalize_temporal(std::string_view text, TemporalKind kind) {
    if (kind != TemporalKind::time && is_infinity(text))
        return std::string(text);
    std::optional<Parsed> parsed = parse(text);
    if (!parsed)
        return std::nullopt;
    Parsed& p = *parsed;
    switch (kind) {
        case TemporalKind::date:
            if (!p.has_date)
                return std::nullopt;
            return format_date(p).append(era(p));
        case TemporalKind::time:
            if (p.has_date || p.has_zone)
                return std::nullopt;
            return format_time(p);
        case TemporalKind::timestamp:
            if (!p.has_date)
                return std::nullopt;
            p.zone_seconds = 0;  // ignored, and 24:00 becomes the next day
            to_utc(p);
            return format_date(p) + "T" + format_time(p) + std::string(era(p));
        case TemporalKind::timestamptz:
            if (!p.has_date)
                return std::nullopt;
            to_utc(p);
            return format_date(p) + "T" + format_time(p) + "Z" + std::string(era(p));
    }
    return std::nullopt;
}

std::optional<std::string> zoneless_timestamptz_in_utc(std::string_view text) {
    if (is_infinity(text))
        return std::nullopt;
    std::optional<Parsed> parsed = parse(text);
    if (!parsed || !parsed->has_date || parsed->has_zone)
        return std::nullopt;
    return normalize_temporal(text, TemporalKind::timestamptz);
}

}  // namespace ferry::canonical
