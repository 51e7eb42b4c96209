// The portable dump file of `ferry dump` / `ferry restore` (docs/dump-files.md):
// engine-neutral (every row is a line of PostgreSQL's COPY text), compressed
// (zstd, one frame per chunk of about 1 MiB, so a table of any size streams
// through a fixed amount of memory), and checksummed at three levels: the
// header, each table block (XXH3-64 of its uncompressed bytes and its row
// count) and the whole file (XXH3-64 of every byte before the trailer's
// checksum, then an end marker), so that truncation or corruption anywhere is
// found. No database here: the CLI feeds the writer rows and hands the
// reader's rows to a target.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::dump {

inline constexpr std::string_view kMagic = "FERRYDMP";
inline constexpr std::string_view kEndMagic = "FERRYEND";
inline constexpr uint32_t kFormatVersion = 1;
// Uncompressed bytes collected before a frame is compressed; a frame holds
// whole lines, so one row larger than this makes a frame of its own.
inline constexpr size_t kChunkBytes = size_t{1} << 20;

// A table as the header lists it, from the source's catalog: enough to check
// the target before anything is written.
struct TableInfo {
    std::string name;                      // as written in SQL on the source
    std::vector<std::string> columns;      // sorted
    std::vector<std::string> key_columns;  // sorted
};

struct Header {
    std::string source;         // the source peer, passwords redacted
    std::string engine;         // "postgresql" or "sqlite"
    std::string ferry_version;  // of the ferry that wrote the file
    std::string created_at;     // UTC, ISO 8601
    std::string compression = "zstd";
    nlohmann::json snapshot;        // the source's snapshot and change-log cursor
    std::vector<TableInfo> tables;  // in the order of their blocks
};

// What opens a table block: the order of each line's fields.
struct BlockStart {
    std::string name;
    std::vector<std::string> columns;   // in the order of each line's fields
    std::vector<std::string> pg_types;  // the source's types; empty for SQLite
};

// What closes a table block, checked by the reader before it reports the
// block complete.
struct BlockEnd {
    uint64_t rows = 0;       // lines in the block
    uint64_t raw_bytes = 0;  // uncompressed
    uint64_t checksum = 0;   // XXH3-64 of the block's start record and lines
    // The source's table_hash in the same snapshot: rows and 32 hex digits.
    uint64_t digest_rows = 0;
    std::string digest_hex;
};

struct FileCloser {
    void operator()(std::FILE* file) const { std::fclose(file); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

class Hasher;
class Compressor;
class Decompressor;

// Writes PATH.partial and renames it to PATH on commit(); destroyed without
// commit() (an error, a signal that unwinds), it removes the partial file,
// so a valid-looking FILE is always complete.
class DumpWriter {
  public:
    // Throws Error(conflict) if PATH exists and !overwrite; level: zstd 1..19.
    DumpWriter(std::string path, bool overwrite, int level);
    ~DumpWriter();
    DumpWriter(const DumpWriter&) = delete;
    DumpWriter& operator=(const DumpWriter&) = delete;

    void write_header(const Header& header);
    void begin_table(const BlockStart& start);
    // Complete COPY text lines, each ending in '\n'.
    void add_lines(std::string_view lines);
    // Closes the block; returns what the reader will check.
    BlockEnd end_table(uint64_t digest_rows, const std::string& digest_hex);
    // Trailer, fsync, rename. Returns the file's size.
    uint64_t commit();

    uint64_t bytes_written() const { return offset_; }

  private:
    std::FILE* open_partial();
    void put(const void* data, size_t size);
    void put_u32(uint32_t value);
    void put_u64(uint64_t value);
    void flush_chunk(std::string_view raw);

    std::string path_;
    std::string partial_path_;
    bool overwrite_;
    FilePtr file_;
    std::unique_ptr<Hasher> file_hash_;
    std::unique_ptr<Hasher> block_hash_;
    std::unique_ptr<Compressor> compressor_;
    std::string chunk_;
    std::string compressed_;
    uint64_t offset_ = 0;
    uint32_t tables_ = 0;
    uint64_t block_rows_ = 0;
    uint64_t block_bytes_ = 0;
    bool in_block_ = false;
    bool committed_ = false;
};

// Reads a dump file front to back. Every problem is an Error naming the file
// (and the table, inside a block) with a hint: "not a ferry dump file",
// "... has format version N", "... is truncated", "... is corrupted".
class DumpReader {
  public:
    // Opens the file and reads and checks its header.
    explicit DumpReader(std::string path);
    ~DumpReader();
    DumpReader(const DumpReader&) = delete;
    DumpReader& operator=(const DumpReader&) = delete;

    const Header& header() const { return header_; }
    uint64_t file_size() const { return size_; }

    // Reads the whole file without decompressing it: record framing, the
    // trailer and the whole-file checksum. Then starts over after the header,
    // so that the blocks can be read. Costs one read of the compressed file.
    void check_whole_file();
    // After check_whole_file(): the rows of every block, and of block i.
    uint64_t total_rows() const;
    uint64_t rows_of(size_t block) const { return blocks_.at(block).rows; }
    // After check_whole_file(): goes to block i (the header's order) and
    // reads its start, so that a target's parents can be written first.
    BlockStart open_table(size_t block);

    // The next table block, or nullopt at the trailer (which is then checked).
    std::optional<BlockStart> next_table();
    // The current block's lines, a frame at a time, each piece whole lines;
    // then the block's end, checked (rows, bytes, checksum) before it returns.
    using OnLines = std::function<void(std::string_view lines, uint64_t rows)>;
    BlockEnd read_rows(const OnLines& on_lines);

  private:
    void rewind_to_blocks();
    void read_header();
    void get(void* data, size_t size, const char* what);
    uint8_t get_tag(const char* what);
    template <typename T>
    T get_little_endian(const char* what);
    uint32_t get_u32(const char* what);
    uint64_t get_u64(const char* what);
    void check_length(uint64_t length, const char* what);
    void check_trailer();
    BlockStart read_block_start();
    [[noreturn]] void truncated(const std::string& what) const;
    [[noreturn]] void corrupted(const std::string& detail) const;
    std::string where() const;

    std::string path_;
    FilePtr file_;
    uint64_t size_ = 0;
    uint64_t offset_ = 0;
    uint64_t blocks_offset_ = 0;
    Header header_;
    std::unique_ptr<Hasher> file_hash_;
    std::unique_ptr<Hasher> block_hash_;
    std::unique_ptr<Decompressor> decompressor_;
    struct BlockIndex {
        uint64_t offset = 0;  // of its start record
        uint64_t rows = 0;
    };
    std::vector<BlockIndex> blocks_;
    std::string current_table_;
    uint32_t blocks_read_ = 0;
    bool trailer_read_ = false;
    std::string compressed_;
    // A frame's rows: not a std::string, whose resize() writes every byte.
    // A frame declares its size before it is decompressed, and a forged one
    // may declare 2 GiB with nothing behind it; memory that is allocated but
    // never written costs nothing.
    std::unique_ptr<char[]> raw_;
    size_t raw_capacity_ = 0;
};

}  // namespace ferry::dump
