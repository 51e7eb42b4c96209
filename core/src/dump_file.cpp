// The dump file format (see dump_file.hpp and docs/dump-files.md for the
// layout). Integers are little-endian. Every length read from a file is
// checked against the file's size and the format's limits before anything is
// allocated for it, so a damaged file is refused rather than trusted.
#include "ferry/dump_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "ferry/error.hpp"

namespace ferry::dump {

namespace {

constexpr uint8_t kTableTag = 'T';
constexpr uint8_t kFrameTag = 'F';
constexpr uint8_t kEndTag = 'E';
constexpr uint8_t kTrailerTag = 'Z';
constexpr size_t kDigestHexSize = 32;
// Far above any real header or block start, far below what would hurt to
// allocate on a damaged length.
constexpr uint64_t kMaxJsonBytes = uint64_t{64} << 20;
// A frame holds whole lines: at most one chunk plus one row, and PostgreSQL's
// largest value is 1 GB (as text, twice that for bytea's hex).
constexpr uint64_t kMaxFrameBytes = (uint64_t{2} << 30) + kChunkBytes;

std::string in_quotes(const std::string& path) {
    return "\"" + path + "\"";
}

[[noreturn]] void io_error(const std::string& what, const std::string& path) {
    throw Error(ErrorKind::io,
                "could not " + what + " " + in_quotes(path) + ": " + std::strerror(errno));
}

nlohmann::json header_json(const Header& header) {
    nlohmann::json tables = nlohmann::json::array();
    for (const auto& table : header.tables)
        tables.push_back(
            {{"name", table.name}, {"columns", table.columns}, {"key_columns", table.key_columns}});
    return {{"format", "ferry-dump"},
            {"version", kFormatVersion},
            {"ferry_version", header.ferry_version},
            {"created_at", header.created_at},
            {"source", {{"peer", header.source}, {"engine", header.engine}}},
            {"snapshot", header.snapshot},
            {"compression", header.compression},
            {"tables", tables}};
}

// Where the source's changes continue after the copy: a restore records it
// for `ferry sync` to start from, so its members must have their types (the
// JSON library's type_error, as for any other member, says which is not).
// `peer` is missing from files of early versions.
void check_snapshot(const nlohmann::json& snapshot) {
    const auto& members = snapshot.get_ref<const nlohmann::json::object_t&>();
    for (const char* text : {"peer", "snapshot"})
        if (auto found = members.find(text); found != members.end() && !found->second.is_null())
            found->second.get_ref<const std::string&>();
    if (auto cursor = members.find("cursor"); cursor != members.end() && !cursor->second.is_null())
        cursor->second.get_ref<const nlohmann::json::object_t&>();
}

Header parse_header(const nlohmann::json& json) {
    Header header;
    header.ferry_version = json.at("ferry_version").get<std::string>();
    header.created_at = json.at("created_at").get<std::string>();
    header.source = json.at("source").at("peer").get<std::string>();
    header.engine = json.at("source").at("engine").get<std::string>();
    header.snapshot = json.at("snapshot");
    check_snapshot(header.snapshot);
    header.compression = json.at("compression").get<std::string>();
    for (const auto& table : json.at("tables"))
        header.tables.push_back({table.at("name").get<std::string>(),
                                 table.at("columns").get<std::vector<std::string>>(),
                                 table.at("key_columns").get<std::vector<std::string>>()});
    return header;
}

uint64_t count_lines(std::string_view raw) {
    return static_cast<uint64_t>(std::count(raw.begin(), raw.end(), '\n'));
}

}  // namespace

// ---- checksums and compression, each owning its library context --------------

class Hasher {
  public:
    Hasher() : state_(XXH3_createState()) { reset(); }
    void reset() { XXH3_64bits_reset(state_.get()); }
    void add(const void* data, size_t size) { XXH3_64bits_update(state_.get(), data, size); }
    uint64_t digest() const { return XXH3_64bits_digest(state_.get()); }

  private:
    struct Free {
        void operator()(XXH3_state_t* state) const { XXH3_freeState(state); }
    };
    std::unique_ptr<XXH3_state_t, Free> state_;
};

class Compressor {
  public:
    explicit Compressor(int level) : context_(ZSTD_createCCtx()) {
        ZSTD_CCtx_setParameter(context_.get(), ZSTD_c_compressionLevel, level);
        // zstd's own frame checksum names a damaged frame at once.
        ZSTD_CCtx_setParameter(context_.get(), ZSTD_c_checksumFlag, 1);
    }
    void compress(std::string_view raw, std::string& out) {
        out.resize(ZSTD_compressBound(raw.size()));
        size_t size =
            ZSTD_compress2(context_.get(), out.data(), out.size(), raw.data(), raw.size());
        if (ZSTD_isError(size))
            throw Error(ErrorKind::internal,
                        std::string("zstd compression failed: ") + ZSTD_getErrorName(size));
        out.resize(size);
    }

  private:
    struct Free {
        void operator()(ZSTD_CCtx* context) const { ZSTD_freeCCtx(context); }
    };
    std::unique_ptr<ZSTD_CCtx, Free> context_;
};

class Decompressor {
  public:
    Decompressor() : context_(ZSTD_createDCtx()) {}
    // Returns an error text, empty when `compressed` is exactly one frame of
    // exactly raw_size bytes, which it wrote to `out` (room for raw_size).
    std::string decompress(std::string_view compressed, uint64_t raw_size, char* out) {
        unsigned long long content = ZSTD_getFrameContentSize(compressed.data(), compressed.size());
        if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN)
            return "a zstd frame has a bad frame header";
        if (content != raw_size)
            return "a zstd frame holds " + std::to_string(content) +
                   " bytes where its record says " + std::to_string(raw_size);
        size_t frame = ZSTD_findFrameCompressedSize(compressed.data(), compressed.size());
        if (ZSTD_isError(frame) || frame != compressed.size())
            return "a zstd frame does not fill its record";
        size_t size = ZSTD_decompressDCtx(context_.get(), out, raw_size, compressed.data(),
                                          compressed.size());
        if (ZSTD_isError(size))
            return std::string("zstd: ") + ZSTD_getErrorName(size);
        if (size != raw_size)
            return "a zstd frame decompressed to the wrong size";
        return {};
    }

  private:
    struct Free {
        void operator()(ZSTD_DCtx* context) const { ZSTD_freeDCtx(context); }
    };
    std::unique_ptr<ZSTD_DCtx, Free> context_;
};

// ---- writer ------------------------------------------------------------------

DumpWriter::DumpWriter(std::string path, bool overwrite, int level)
    : path_(std::move(path)),
      partial_path_(path_ + ".partial"),
      overwrite_(overwrite),
      file_hash_(std::make_unique<Hasher>()),
      block_hash_(std::make_unique<Hasher>()),
      compressor_(std::make_unique<Compressor>(level)) {
    struct stat existing {};
    if (!overwrite_ && ::stat(path_.c_str(), &existing) == 0)
        throw Error(ErrorKind::conflict, "dump file " + in_quotes(path_) + " already exists", {},
                    "Choose another name, or pass --force to replace it.");
    file_.reset(open_partial());
    std::setvbuf(file_.get(), nullptr, _IOFBF, size_t{1} << 20);
    chunk_.reserve(kChunkBytes * 2);
}

// FILE.partial, created for this writer alone and locked while it lives: a
// second dump of the same FILE is refused, while one left by a killed dump
// (unlocked) is replaced.
std::FILE* DumpWriter::open_partial() {
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = ::open(partial_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd >= 0) {
            if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
                ::close(fd);
                io_error("lock", partial_path_);
            }
            std::FILE* file = ::fdopen(fd, "wb");
            if (!file) {
                ::close(fd);
                io_error("create", partial_path_);
            }
            return file;
        }
        if (errno != EEXIST)
            io_error("create", partial_path_);
        int other = ::open(partial_path_.c_str(), O_RDONLY | O_CLOEXEC);
        bool live = other >= 0 && ::flock(other, LOCK_EX | LOCK_NB) != 0;
        if (other >= 0)
            ::close(other);
        if (live)
            throw Error(ErrorKind::locked, "another ferry dump is writing " + in_quotes(path_), {},
                        "Wait for it to finish, or dump to another file.");
        ::unlink(partial_path_.c_str());  // left by a dump that was killed
    }
    io_error("create", partial_path_);
}

DumpWriter::~DumpWriter() {
    if (!committed_) {
        file_.reset();
        ::unlink(partial_path_.c_str());
    }
}

void DumpWriter::put(const void* data, size_t size) {
    if (size && std::fwrite(data, 1, size, file_.get()) != size)
        io_error("write", partial_path_);
    file_hash_->add(data, size);
    offset_ += size;
}

void DumpWriter::put_u32(uint32_t value) {
    unsigned char bytes[4];
    for (int i = 0; i < 4; i++)
        bytes[i] = static_cast<unsigned char>(value >> (8 * i));
    put(bytes, sizeof bytes);
}

void DumpWriter::put_u64(uint64_t value) {
    unsigned char bytes[8];
    for (int i = 0; i < 8; i++)
        bytes[i] = static_cast<unsigned char>(value >> (8 * i));
    put(bytes, sizeof bytes);
}

void DumpWriter::write_header(const Header& header) {
    std::string json = header_json(header).dump();
    put(kMagic.data(), kMagic.size());
    put_u32(kFormatVersion);
    put_u32(static_cast<uint32_t>(json.size()));
    put(json.data(), json.size());
    put_u64(XXH3_64bits(json.data(), json.size()));
}

void DumpWriter::begin_table(const BlockStart& start) {
    std::string json =
        nlohmann::json{{"name", start.name}, {"columns", start.columns}, {"types", start.pg_types}}
            .dump();
    uint8_t tag = kTableTag;
    put(&tag, 1);
    put_u32(static_cast<uint32_t>(json.size()));
    put(json.data(), json.size());
    block_hash_->reset();
    block_hash_->add(json.data(), json.size());
    block_rows_ = block_bytes_ = 0;
    in_block_ = true;
    tables_++;
}

void DumpWriter::add_lines(std::string_view lines) {
    if (chunk_.size() + lines.size() <= kChunkBytes) {
        chunk_.append(lines);
        return;
    }
    flush_chunk(chunk_);
    chunk_.clear();
    if (lines.size() >= kChunkBytes)
        flush_chunk(lines);  // no copy for a piece that fills a frame by itself
    else
        chunk_.append(lines);
}

void DumpWriter::flush_chunk(std::string_view raw) {
    if (raw.empty())
        return;
    compressor_->compress(raw, compressed_);
    uint8_t tag = kFrameTag;
    put(&tag, 1);
    put_u32(static_cast<uint32_t>(raw.size()));
    put_u32(static_cast<uint32_t>(compressed_.size()));
    put(compressed_.data(), compressed_.size());
    block_hash_->add(raw.data(), raw.size());
    block_rows_ += count_lines(raw);
    block_bytes_ += raw.size();
}

BlockEnd DumpWriter::end_table(uint64_t digest_rows, const std::string& digest_hex) {
    flush_chunk(chunk_);
    chunk_.clear();
    if (digest_hex.size() != kDigestHexSize)
        throw Error(ErrorKind::internal, "a table digest must be 32 hex digits");
    BlockEnd end{block_rows_, block_bytes_, block_hash_->digest(), digest_rows, digest_hex};
    uint8_t tag = kEndTag;
    put(&tag, 1);
    put_u64(end.rows);
    put_u64(end.raw_bytes);
    put_u64(end.checksum);
    put_u64(end.digest_rows);
    put(end.digest_hex.data(), end.digest_hex.size());
    in_block_ = false;
    return end;
}

uint64_t DumpWriter::commit() {
    if (in_block_)
        throw Error(ErrorKind::internal, "a dump file was committed inside a table block");
    uint8_t tag = kTrailerTag;
    put(&tag, 1);
    put_u32(tables_);
    put_u64(file_hash_->digest());
    put(kEndMagic.data(), kEndMagic.size());
    if (std::fflush(file_.get()) != 0 || ::fsync(fileno(file_.get())) != 0)
        io_error("write", partial_path_);
    // Moved into place while still open and locked (see open_partial). A
    // hard link never replaces a FILE that appeared meanwhile.
    if (overwrite_) {
        if (std::rename(partial_path_.c_str(), path_.c_str()) != 0)
            io_error("rename the finished dump to", path_);
    } else {
        if (::link(partial_path_.c_str(), path_.c_str()) != 0) {
            if (errno == EEXIST)
                throw Error(
                    ErrorKind::conflict,
                    "dump file " + in_quotes(path_) + " appeared while it was being written", {},
                    "Choose another name, or pass --force to replace it.");
            io_error("move the finished dump to", path_);
        }
        ::unlink(partial_path_.c_str());
    }
    file_.reset();
    committed_ = true;
    return offset_;
}

// ---- reader ------------------------------------------------------------------

DumpReader::DumpReader(std::string path)
    : path_(std::move(path)),
      file_hash_(std::make_unique<Hasher>()),
      block_hash_(std::make_unique<Hasher>()),
      decompressor_(std::make_unique<Decompressor>()) {
    file_.reset(std::fopen(path_.c_str(), "rb"));
    if (!file_)
        throw Error(ErrorKind::io,
                    "could not open dump file " + in_quotes(path_) + ": " + std::strerror(errno));
    struct stat info {};
    if (::fstat(fileno(file_.get()), &info) != 0 || !S_ISREG(info.st_mode))
        throw Error(ErrorKind::invalid_input, in_quotes(path_) + " is not a regular file", {},
                    "ferry restore reads a file written by ferry dump, not a pipe or device.");
    size_ = static_cast<uint64_t>(info.st_size);
    std::setvbuf(file_.get(), nullptr, _IOFBF, size_t{1} << 20);
    read_header();
}

DumpReader::~DumpReader() = default;

std::string DumpReader::where() const {
    if (!blocks_offset_)
        return "the header";
    if (!current_table_.empty())
        return "table " + current_table_;
    if (blocks_read_ < header_.tables.size())
        return "the start of table " + header_.tables[blocks_read_].name;
    return "the trailer";
}

void DumpReader::truncated(const std::string& what) const {
    throw Error(ErrorKind::io, "dump file " + in_quotes(path_) + " is truncated",
                "It ends at byte " + std::to_string(size_) + ", in " + where() + ", where " + what +
                    " should be.",
                "The file was cut short (an interrupted copy, a full disk). Copy it again from "
                "where it was dumped, or run ferry dump again.");
}

void DumpReader::corrupted(const std::string& detail) const {
    throw Error(ErrorKind::io, "dump file " + in_quotes(path_) + " is corrupted",
                "In " + where() + " (byte " + std::to_string(offset_) + "): " + detail + ".",
                "The file was changed after ferry dump wrote it. Copy it again from where it was "
                "dumped, or run ferry dump again.");
}

void DumpReader::get(void* data, size_t size, const char* what) {
    if (size > size_ - std::min(size_, offset_))
        truncated(what);
    if (size && std::fread(data, 1, size, file_.get()) != size)
        truncated(what);  // the file shrank while being read
    file_hash_->add(data, size);
    offset_ += size;
}

uint8_t DumpReader::get_tag(const char* what) {
    uint8_t tag = 0;
    get(&tag, 1, what);
    return tag;
}

// A little-endian unsigned integer of sizeof(T) bytes.
template <typename T>
T DumpReader::get_little_endian(const char* what) {
    unsigned char bytes[sizeof(T)];
    get(bytes, sizeof bytes, what);
    T value = 0;
    for (size_t i = sizeof(T); i-- > 0;)
        value = static_cast<T>(value << 8 | bytes[i]);
    return value;
}

uint32_t DumpReader::get_u32(const char* what) {
    return get_little_endian<uint32_t>(what);
}

uint64_t DumpReader::get_u64(const char* what) {
    return get_little_endian<uint64_t>(what);
}

// A length that reaches past the end of the file means the rest is missing.
void DumpReader::check_length(uint64_t length, const char* what) {
    if (length > size_ - offset_)
        truncated(what);
}

void DumpReader::read_header() {
    char magic[kMagic.size()];
    if (size_ < kMagic.size()) {
        // A prefix of the magic is a cut-short dump; anything else is not one.
        std::string start(size_, '\0');
        if (size_ && std::fread(start.data(), 1, size_, file_.get()) != size_)
            truncated("the file's signature");
        if (kMagic.substr(0, start.size()) == start)
            truncated("the file's signature");
    } else {
        get(magic, sizeof magic, "the file's signature");
        if (std::string_view(magic, sizeof magic) == kMagic) {
            uint32_t version = get_u32("the format version");
            if (version != kFormatVersion)
                throw Error(ErrorKind::unsupported,
                            "dump file " + in_quotes(path_) + " has format version " +
                                std::to_string(version) + ", this ferry reads version " +
                                std::to_string(kFormatVersion),
                            {}, "Restore it with the ferry release that wrote it, or dump again.");
            uint32_t length = get_u32("the header's length");
            if (length > kMaxJsonBytes)
                corrupted("the header's length is " + std::to_string(length));
            check_length(length, "the header");
            std::string json(length, '\0');
            get(json.data(), json.size(), "the header");
            if (get_u64("the header's checksum") != XXH3_64bits(json.data(), json.size()))
                corrupted("the header's checksum does not match");
            try {
                header_ = parse_header(nlohmann::json::parse(json));
            } catch (const nlohmann::json::exception& e) {
                corrupted(std::string("the header does not parse: ") + e.what());
            }
            if (header_.compression != "zstd")
                corrupted("unknown compression \"" + header_.compression + "\"");
            blocks_offset_ = offset_;
            return;
        }
    }
    throw Error(ErrorKind::invalid_input, in_quotes(path_) + " is not a ferry dump file",
                "It does not start with \"FERRYDMP\".",
                "ferry restore reads files written by ferry dump. A pg_dump or sqlite3 .dump "
                "file can be loaded with ferry.to_upsert() (docs/full-sync.md).");
}

void DumpReader::rewind_to_blocks() {
    if (std::fseek(file_.get(), 0, SEEK_SET) != 0)
        io_error("read", path_);
    offset_ = 0;
    blocks_offset_ = 0;
    file_hash_->reset();
    read_header();
    current_table_.clear();
    blocks_read_ = 0;
    trailer_read_ = false;
}

void DumpReader::check_whole_file() {
    blocks_.clear();
    for (;;) {
        uint8_t tag = get_tag("a record");
        if (tag == kTrailerTag) {
            check_trailer();
            break;
        }
        uint64_t skip = 0;
        if (tag == kTableTag) {
            if (!current_table_.empty() || blocks_read_ >= header_.tables.size())
                corrupted("a table block where none belongs");
            current_table_ = header_.tables[blocks_read_++].name;
            blocks_.push_back({offset_ - 1, 0});
            skip = get_u32("a table block's start");
        } else if (tag == kFrameTag && !current_table_.empty()) {
            get_u32("a frame's length");
            skip = get_u32("a frame's length");
        } else if (tag == kEndTag && !current_table_.empty()) {
            blocks_.back().rows = get_u64("the table's row count");
            skip = 3 * 8 + kDigestHexSize;
            current_table_.clear();
        } else {
            corrupted("an unknown record (" + std::to_string(tag) + ")");
        }
        check_length(skip, "a record");
        for (uint64_t left = skip; left > 0;) {
            size_t piece = static_cast<size_t>(std::min<uint64_t>(left, kChunkBytes));
            compressed_.resize(piece);
            get(compressed_.data(), piece, "a record");
            left -= piece;
        }
    }
    rewind_to_blocks();
}

void DumpReader::check_trailer() {
    if (!current_table_.empty())
        corrupted("the trailer comes before the end of the table");
    current_table_.clear();
    trailer_read_ = true;
    uint32_t tables = get_u32("the trailer's table count");
    uint64_t expected = file_hash_->digest();
    uint64_t stored = get_u64("the trailer's checksum");
    char end[kEndMagic.size()];
    get(end, sizeof end, "the end marker");
    if (tables != header_.tables.size() || blocks_read_ != tables)
        corrupted("the trailer counts " + std::to_string(tables) + " tables, the header lists " +
                  std::to_string(header_.tables.size()));
    if (stored != expected)
        corrupted("the whole-file checksum does not match");
    if (std::string_view(end, sizeof end) != kEndMagic)
        corrupted("the end marker is wrong");
    if (offset_ != size_)
        corrupted(std::to_string(size_ - offset_) + " bytes follow the end marker");
}

uint64_t DumpReader::total_rows() const {
    uint64_t rows = 0;
    for (const auto& block : blocks_)
        rows += block.rows;
    return rows;
}

BlockStart DumpReader::open_table(size_t block) {
    if (block >= blocks_.size())
        throw Error(ErrorKind::internal, "open_table before check_whole_file");
    if (std::fseek(file_.get(), static_cast<long>(blocks_[block].offset), SEEK_SET) != 0)
        io_error("read", path_);
    offset_ = blocks_[block].offset;
    blocks_read_ = static_cast<uint32_t>(block);
    current_table_ = header_.tables[block].name;
    if (get_tag("a table block") != kTableTag)
        corrupted("a table block was expected");
    return read_block_start();
}

std::optional<BlockStart> DumpReader::next_table() {
    if (trailer_read_)
        return std::nullopt;
    current_table_.clear();
    uint8_t tag =
        get_tag(blocks_read_ < header_.tables.size() ? "the next table block" : "the trailer");
    if (tag == kTrailerTag && blocks_read_ == header_.tables.size()) {
        check_trailer();
        return std::nullopt;
    }
    if (tag != kTableTag || blocks_read_ >= header_.tables.size())
        corrupted("a table block was expected");
    return read_block_start();
}

BlockStart DumpReader::read_block_start() {
    const TableInfo& listed = header_.tables[blocks_read_++];
    current_table_ = listed.name;
    uint32_t length = get_u32("a table block's start");
    if (length > kMaxJsonBytes)
        corrupted("a block start of " + std::to_string(length) + " bytes");
    check_length(length, "a table block's start");
    std::string json(length, '\0');
    get(json.data(), json.size(), "a table block's start");
    BlockStart start;
    try {
        nlohmann::json parsed = nlohmann::json::parse(json);
        start = {parsed.at("name").get<std::string>(),
                 parsed.at("columns").get<std::vector<std::string>>(),
                 parsed.at("types").get<std::vector<std::string>>()};
    } catch (const nlohmann::json::exception& e) {
        corrupted(std::string("the block start does not parse: ") + e.what());
    }
    // A block may leave out columns its table lists (generated ones, which
    // the source does not send and the target computes), never a key column.
    std::vector<std::string> sorted = start.columns;
    std::sort(sorted.begin(), sorted.end());
    bool columns_fit =
        std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end() &&
        std::includes(listed.columns.begin(), listed.columns.end(), sorted.begin(), sorted.end()) &&
        std::all_of(listed.key_columns.begin(), listed.key_columns.end(),
                    [&](const std::string& key) {
                        return std::binary_search(sorted.begin(), sorted.end(), key);
                    });
    if (start.name != listed.name || !columns_fit ||
        (!start.pg_types.empty() && start.pg_types.size() != start.columns.size()))
        corrupted("the block start does not match the header's table");
    block_hash_->reset();
    block_hash_->add(json.data(), json.size());
    return start;
}

BlockEnd DumpReader::read_rows(const OnLines& on_lines) {
    uint64_t rows = 0, bytes = 0;
    for (;;) {
        uint8_t tag = get_tag("a frame or the end of the table");
        if (tag == kEndTag)
            break;
        if (tag != kFrameTag)
            corrupted("a frame was expected");
        uint32_t raw_size = get_u32("a frame's length");
        uint32_t compressed_size = get_u32("a frame's length");
        if (raw_size == 0 || raw_size > kMaxFrameBytes ||
            compressed_size > ZSTD_compressBound(raw_size))
            corrupted("a frame's lengths are impossible");
        check_length(compressed_size, "a frame");
        compressed_.resize(compressed_size);
        get(compressed_.data(), compressed_.size(), "a frame");
        if (raw_capacity_ < raw_size) {
            raw_.reset(new char[raw_size]);  // not value-initialized: untouched until written
            raw_capacity_ = raw_size;
        }
        std::string problem = decompressor_->decompress(compressed_, raw_size, raw_.get());
        if (!problem.empty())
            corrupted(problem);
        std::string_view raw(raw_.get(), raw_size);
        if (raw.back() != '\n')
            corrupted("a frame does not end with a whole line");
        block_hash_->add(raw.data(), raw.size());
        uint64_t lines = count_lines(raw);
        rows += lines;
        bytes += raw.size();
        on_lines(raw, lines);
    }
    BlockEnd end;
    end.rows = get_u64("the table's row count");
    end.raw_bytes = get_u64("the table's size");
    end.checksum = get_u64("the table's checksum");
    end.digest_rows = get_u64("the table's digest");
    end.digest_hex.resize(kDigestHexSize);
    get(end.digest_hex.data(), kDigestHexSize, "the table's digest");
    if (end.rows != rows || end.raw_bytes != bytes)
        corrupted("the table has " + std::to_string(rows) + " rows in " + std::to_string(bytes) +
                  " bytes where its end record says " + std::to_string(end.rows) + " in " +
                  std::to_string(end.raw_bytes));
    if (end.checksum != block_hash_->digest())
        corrupted("the table's checksum does not match");
    return end;
}

}  // namespace ferry::dump
