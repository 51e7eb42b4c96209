// dump_tamper IN OUT: copies a ferry dump file, adding after the first row
// of each table the line `\.` (COPY's end-of-data marker), with every record
// and checksum made anew: a file that passes every check of the format but
// whose rows a PostgreSQL COPY would cut short (tests/integration/dump_restore.sh).
#include "ferry/dump_file.hpp"

#include <cstdio>
#include <exception>
#include <string>

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: dump_tamper IN OUT\n");
        return 2;
    }
    try {
        ferry::dump::DumpReader reader(argv[1]);
        ferry::dump::DumpWriter writer(argv[2], true, 3);
        writer.write_header(reader.header());
        while (auto start = reader.next_table()) {
            writer.begin_table(*start);
            bool marked = false;
            ferry::dump::BlockEnd end = reader.read_rows([&](std::string_view lines, uint64_t) {
                std::string copy(lines);
                if (!marked && copy.find('\n') != std::string::npos) {
                    copy.insert(copy.find('\n') + 1, "\\.\n");
                    marked = true;
                }
                writer.add_lines(copy);
            });
            writer.end_table(end.digest_rows, end.digest_hex);
        }
        writer.commit();
    } catch (const std::exception& error) {
        std::fprintf(stderr, "dump_tamper: %s\n", error.what());
        return 1;
    }
    return 0;
}
