// The dump file format of ferry dump / ferry restore: a round trip, and a
// damaged file (cut short anywhere, a byte flipped anywhere, another format
// version) always refused with an error that names the file.
#include <sys/resource.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>

#include "ferry/dump_file.hpp"
#include "ferry/error.hpp"

using namespace ferry::dump;

namespace {

const std::string kDigest = "0123456789abcdef0123456789abcdef";

// A scratch path, removed with whatever the writer left next to it.
struct ScratchPath {
    std::string path;
    ScratchPath() {
        char name[] = "/tmp/ferry-dump-test-XXXXXX";
        int fd = mkstemp(name);
        ::close(fd);
        ::unlink(name);
        path = name;
    }
    ~ScratchPath() {
        ::unlink(path.c_str());
        ::unlink((path + ".partial").c_str());
    }
};

Header sample_header() {
    Header header;
    header.source = "dbname=src";
    header.engine = "postgresql";
    header.ferry_version = "0.3";
    header.created_at = "2026-01-01T00:00:00Z";
    header.snapshot = {{"snapshot", "00000003-1"}, {"cursor", {{"position", 42}}}};
    header.tables = {{"public.a", {"id", "name"}, {"id"}}, {"public.b", {"id"}, {"id"}}};
    return header;
}

// Two tables: a's rows in pieces that make several frames, b empty.
void write_sample(const std::string& path, uint64_t rows_of_a) {
    DumpWriter writer(path, false, 3);
    writer.write_header(sample_header());
    writer.begin_table({"public.a", {"name", "id"}, {"text", "int4"}});
    std::string lines;
    for (uint64_t i = 0; i < rows_of_a; i++) {
        lines +=
            "row\\tnumber " + std::to_string(i * 7919 % 100003) + "\t" + std::to_string(i) + "\n";
        if (lines.size() > 300000) {
            writer.add_lines(lines);
            lines.clear();
        }
    }
    writer.add_lines(lines);
    writer.end_table(rows_of_a, kDigest);
    writer.begin_table({"public.b", {"id"}, {"int4"}});
    writer.end_table(0, kDigest);
    writer.commit();
}

struct ReadBack {
    std::vector<BlockStart> starts;
    std::vector<BlockEnd> ends;
    std::string lines_of_a;
};

ReadBack read_all(const std::string& path, bool check_first) {
    DumpReader reader(path);
    if (check_first)
        reader.check_whole_file();
    ReadBack back;
    while (auto start = reader.next_table()) {
        back.starts.push_back(*start);
        back.ends.push_back(reader.read_rows([&](std::string_view lines, uint64_t rows) {
            CHECK(rows == static_cast<uint64_t>(std::count(lines.begin(), lines.end(), '\n')));
            if (start->name == "public.a")
                back.lines_of_a.append(lines);
        }));
    }
    return back;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

void spit(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// The message names the file: a user is never left guessing which.
void require_refused(const std::string& path, bool check_first, const std::string& what) {
    try {
        read_all(path, check_first);
        FAIL("a damaged file was read without an error: " << what);
    } catch (const ferry::Error& e) {
        INFO(what << ": " << e.what() << " / " << e.detail());
        CHECK(std::string(e.what()).find(path) != std::string::npos);
        CHECK_FALSE(e.hint().empty());
    }
}

}  // namespace

TEST_CASE("dump file: round trip") {
    ScratchPath file;
    write_sample(file.path, 50000);
    ReadBack back = read_all(file.path, true);
    REQUIRE(back.starts.size() == 2);
    CHECK(back.starts[0].columns == std::vector<std::string>{"name", "id"});
    CHECK(back.starts[0].pg_types == std::vector<std::string>{"text", "int4"});
    CHECK(back.ends[0].rows == 50000);
    CHECK(back.ends[0].digest_hex == kDigest);
    CHECK(back.ends[1].rows == 0);
    CHECK(back.lines_of_a.substr(0, 16) == "row\\tnumber 0\t0\n");
    CHECK(std::count(back.lines_of_a.begin(), back.lines_of_a.end(), '\n') == 50000);

    DumpReader reader(file.path);
    CHECK(reader.header().source == "dbname=src");
    CHECK(reader.header().snapshot["cursor"]["position"] == 42);
    CHECK(reader.header().tables[0].key_columns == std::vector<std::string>{"id"});
}

TEST_CASE("dump file: one writer per file; a partial file left by a killed one is replaced") {
    ScratchPath file;
    {
        DumpWriter first(file.path, false, 1);
        try {
            DumpWriter second(file.path, false, 1);
            FAIL("a second writer of the same file was let in");
        } catch (const ferry::Error& error) {
            CHECK(error.kind() == ferry::ErrorKind::locked);
        }
        CHECK(access((file.path + ".partial").c_str(), F_OK) == 0);  // the first one's, intact
    }
    std::FILE* stale = std::fopen((file.path + ".partial").c_str(), "w");  // as a kill -9 leaves it
    std::fputs("half a dump", stale);
    std::fclose(stale);
    write_sample(file.path, 10);
    DumpReader reader(file.path);
    CHECK(reader.header().source == "dbname=src");
}

TEST_CASE("dump file: the partial file, and no overwrite without asking") {
    ScratchPath file;
    {
        DumpWriter writer(file.path, false, 1);
        writer.write_header(sample_header());
        CHECK(access((file.path + ".partial").c_str(), F_OK) == 0);
        CHECK(access(file.path.c_str(), F_OK) != 0);
    }  // destroyed without commit: nothing that looks like a dump is left
    CHECK(access((file.path + ".partial").c_str(), F_OK) != 0);
    CHECK(access(file.path.c_str(), F_OK) != 0);
    write_sample(file.path, 10);
    CHECK_THROWS_AS(DumpWriter(file.path, false, 1), ferry::Error);
    CHECK_NOTHROW(DumpWriter(file.path, true, 1));
}

TEST_CASE("dump file: cut short anywhere, refused") {
    ScratchPath file;
    write_sample(file.path, 3000);
    std::string bytes = slurp(file.path);
    ScratchPath cut;
    // Every offset near the ends and the block boundaries, and a stride
    // through the rest.
    std::vector<size_t> lengths;
    for (size_t n = 0; n < bytes.size(); n += (n < 600 || n + 600 > bytes.size()) ? 1 : 97)
        lengths.push_back(n);
    for (size_t n : lengths) {
        spit(cut.path, bytes.substr(0, n));
        require_refused(cut.path, true, "cut to " + std::to_string(n) + " bytes");
        require_refused(cut.path, false, "cut to " + std::to_string(n) + " bytes, streamed");
    }
    spit(cut.path, bytes + "x");
    require_refused(cut.path, true, "a byte appended");
}

TEST_CASE("dump file: a flipped byte anywhere, refused") {
    ScratchPath file;
    write_sample(file.path, 3000);
    std::string bytes = slurp(file.path);
    ScratchPath bad;
    for (size_t at = 0; at < bytes.size(); at += (at < 400 || at + 400 > bytes.size()) ? 1 : 53) {
        std::string flipped = bytes;
        flipped[at] = static_cast<char>(flipped[at] ^ 0x10);
        spit(bad.path, flipped);
        require_refused(bad.path, true, "byte " + std::to_string(at) + " flipped");
        if (at >= 8)  // past the signature the streamed read finds it too
            require_refused(bad.path, false, "byte " + std::to_string(at) + " flipped, streamed");
    }
}

TEST_CASE("dump file: not a dump, another version") {
    ScratchPath file;
    spit(file.path, "PGDMP\x01\x0e\x00 a pg_dump custom archive");
    try {
        DumpReader reader(file.path);
        FAIL("read a file that is not a dump");
    } catch (const ferry::Error& e) {
        CHECK(std::string(e.what()) == "\"" + file.path + "\" is not a ferry dump file");
    }
    ScratchPath dump;
    write_sample(dump.path, 10);
    std::string bytes = slurp(dump.path);
    bytes[8] = 2;  // the version, little-endian
    spit(file.path, bytes);
    try {
        DumpReader reader(file.path);
        FAIL("read a file of another version");
    } catch (const ferry::Error& e) {
        CHECK(std::string(e.what()).find("has format version 2, this ferry reads version 1") !=
              std::string::npos);
    }
}

TEST_CASE("dump file: a header whose snapshot members have other types, refused") {
    // A restore records the snapshot for ferry sync to start from.
    for (const nlohmann::json& snapshot :
         {nlohmann::json{{"peer", 42}}, nlohmann::json{{"cursor", "42"}},
          nlohmann::json{{"snapshot", nlohmann::json::array()}}, nlohmann::json("00000003-1")}) {
        ScratchPath file;
        {
            DumpWriter writer(file.path, false, 3);
            Header header = sample_header();
            header.snapshot = snapshot;
            writer.write_header(header);
            writer.commit();
        }
        try {
            DumpReader reader(file.path);
            FAIL("read a header with the snapshot " << snapshot.dump());
        } catch (const ferry::Error& e) {
            CHECK(std::string(e.what()) == "dump file \"" + file.path + "\" is corrupted");
        }
    }
    ScratchPath file;  // files of early versions have no peer
    {
        DumpWriter writer(file.path, false, 3);
        writer.write_header(sample_header());
        writer.commit();
    }
    DumpReader reader(file.path);
    CHECK(reader.header().snapshot["snapshot"] == "00000003-1");
}

TEST_CASE("dump file: a frame declaring far more than it holds costs no memory") {
    // A forged file (checksums are not signatures) whose one frame declares
    // 1.5 GiB and holds ten bytes: the read is refused, and before refusing
    // it must not have filled 1.5 GiB of memory.
    ScratchPath file;
    {
        DumpWriter writer(file.path, false, 3);
        writer.write_header(sample_header());
        writer.begin_table({"public.a", {"name", "id"}, {"text", "int4"}});
        writer.add_lines("x\t1\n");
        writer.end_table(1, kDigest);
        writer.begin_table({"public.b", {"id"}, {"int4"}});
        writer.end_table(0, kDigest);
        writer.commit();
    }
    std::string bytes = slurp(file.path);
    auto u32_at = [&](size_t at) {
        uint32_t value = 0;
        for (int i = 3; i >= 0; i--)
            value = (value << 8) | static_cast<uint8_t>(bytes[at + i]);
        return value;
    };
    auto u32_bytes = [](uint32_t value) {
        std::string out(4, '\0');
        for (int i = 0; i < 4; i++)
            out[i] = static_cast<char>((value >> (8 * i)) & 0xff);
        return out;
    };
    size_t block = 16 + u32_at(12) + 8;  // past the header: signature, version, JSON, hash
    REQUIRE(bytes[block] == 'T');
    size_t frame = block + 5 + u32_at(block + 1);
    REQUIRE(bytes[frame] == 'F');
    const uint32_t declared = uint32_t{3} << 29;  // 1.5 GiB
    // A zstd frame: magic, single segment with a 4-byte content size, then
    // one last raw block of ten bytes.
    std::string zstd = std::string("\x28\xb5\x2f\xfd\xa0", 5) + u32_bytes(declared) +
                       std::string("\x51\x00\x00", 3) + "abcdefghi\n";
    std::string forged = bytes.substr(0, frame) + "F" + u32_bytes(declared) +
                         u32_bytes(static_cast<uint32_t>(zstd.size())) + zstd +
                         bytes.substr(frame + 9 + u32_at(frame + 5));
    spit(file.path, forged);
    struct rusage before {};
    getrusage(RUSAGE_SELF, &before);
    require_refused(file.path, false, "a frame declaring 1.5 GiB");
    struct rusage after {};
    getrusage(RUSAGE_SELF, &after);
    CHECK(after.ru_maxrss - before.ru_maxrss < 256 * 1024);  // kilobytes
}
