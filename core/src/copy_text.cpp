// COPY text format (see copy_text.hpp).
#include "ferry/copy_text.hpp"

#include "ferry/error.hpp"
#include "ferry/text.hpp"

namespace ferry::copy_text {
namespace {

bool is_octal(char c) {
    return c >= '0' && c <= '7';
}

// Decodes the escape starting after the backslash at line[i]; returns the
// index of the next character to read.
size_t decode_escape(std::string_view line, size_t i, std::string& out) {
    char c = line[i];
    switch (c) {
        case 'b':
            out += '\b';
            return i + 1;
        case 'f':
            out += '\f';
            return i + 1;
        case 'n':
            out += '\n';
            return i + 1;
        case 'r':
            out += '\r';
            return i + 1;
        case 't':
            out += '\t';
            return i + 1;
        case 'v':
            out += '\v';
            return i + 1;
        case 'x': {
            int value = 0;
            size_t j = i + 1;
            for (; j < line.size() && j < i + 3 && text::hex_digit_value(line[j]) >= 0; j++)
                value = value * 16 + text::hex_digit_value(line[j]);
            if (j == i + 1) {  // \x without digits is a plain x, as in PostgreSQL
                out += 'x';
                return i + 1;
            }
            out += static_cast<char>(value);
            return j;
        }
        default:
            if (is_octal(c)) {
                int value = 0;
                size_t j = i;
                for (; j < line.size() && j < i + 3 && is_octal(line[j]); j++)
                    value = value * 8 + (line[j] - '0');
                out += static_cast<char>(value & 0xff);
                return j;
            }
            out += c;
            return i + 1;
    }
}

}  // namespace

void decode_line(std::string_view line, std::vector<Field>& fields) {
    size_t count = 0;
    size_t i = 0;
    while (true) {
        if (fields.size() <= count)
            fields.emplace_back();
        Field& field = fields[count++];
        field.value.clear();
        field.is_null = false;
        size_t start = i;
        while (i < line.size() && line[i] != '\t') {
            if (line[i] != '\\') {
                size_t run = i;
                while (run < line.size() && line[run] != '\t' && line[run] != '\\')
                    run++;
                field.value.append(line.data() + i, run - i);
                i = run;
                continue;
            }
            if (i + 1 >= line.size())
                throw Error(ErrorKind::invalid_input, "COPY data line ends in a lone backslash");
            if (line[i + 1] == 'N' && i == start && (i + 2 == line.size() || line[i + 2] == '\t')) {
                field.is_null = true;
                i += 2;
                continue;
            }
            i = decode_escape(line, i + 1, field.value);
        }
        if (i >= line.size())
            break;
        i++;  // the tab
    }
    fields.resize(count);
}

void append_value(std::string& line, std::string_view value) {
    size_t run = 0;
    for (size_t i = 0; i < value.size(); i++) {
        const char* escaped = nullptr;
        switch (value[i]) {
            case '\\':
                escaped = "\\\\";
                break;
            case '\t':
                escaped = "\\t";
                break;
            case '\n':
                escaped = "\\n";
                break;
            case '\r':
                escaped = "\\r";
                break;
            default:
                continue;
        }
        line.append(value.data() + run, i - run);
        line += escaped;
        run = i + 1;
    }
    line.append(value.data() + run, value.size() - run);
}

}  // namespace ferry::copy_text
