#include "ferry/change_set.hpp"

#include <algorithm>
#include <map>

#include <nlohmann/json.hpp>

#include "ferry/error.hpp"

namespace ferry::changes {

Operation operation_from(const std::string& text) {
    if (text == "I" || text == "INSERT")
        return Operation::insert;
    if (text == "U" || text == "UPDATE")
        return Operation::update;
    if (text == "D" || text == "DELETE")
        return Operation::remove;
    if (text == "T" || text == "TRUNCATE")
        return Operation::truncate;
    throw Error(ErrorKind::invalid_input, "unknown change operation \"" + text + "\"");
}

namespace {

// Writes JSON back as text while it is parsed: numbers as they were
// written, strings escaped anew, and the top-level members' strings passed
// through the rewrite.
class RespellingWriter : public nlohmann::json::json_sax_t {
  public:
    explicit RespellingWriter(const StringRewrite& rewrite) : rewrite_(rewrite) {}

    bool null() override { return scalar("null"); }
    bool boolean(bool value) override { return scalar(value ? "true" : "false"); }
    bool number_integer(number_integer_t value) override { return scalar(std::to_string(value)); }
    bool number_unsigned(number_unsigned_t value) override { return scalar(std::to_string(value)); }
    bool number_float(number_float_t, const string_t& written) override { return scalar(written); }
    bool string(string_t& value) override {
        if (open_.size() == 1)
            if (auto respelled = rewrite_(member_, value)) {
                rewritten_ = true;
                return scalar(*respelled);
            }
        return scalar(nlohmann::json(value).dump());
    }
    bool binary(binary_t&) override { return false; }
    bool start_object(std::size_t) override { return open('{'); }
    bool end_object() override { return close('}'); }
    bool start_array(std::size_t) override { return open('['); }
    bool end_array() override { return close(']'); }
    bool key(string_t& name) override {
        separate();
        out_ += nlohmann::json(name).dump() + ':';
        if (open_.size() == 1)
            member_ = name;
        after_key_ = true;
        return true;
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
        return false;
    }

    bool was_object() const { return was_object_; }
    bool rewritten() const { return rewritten_; }
    std::string take() { return std::move(out_); }

  private:
    // A comma before every member or element but the first of its level.
    void separate() {
        if (after_key_) {
            after_key_ = false;
            return;
        }
        if (!open_.empty() && !first_.back())
            out_ += ',';
        if (!first_.empty())
            first_.back() = false;
    }
    bool scalar(const std::string& text) {
        separate();
        out_ += text;
        return true;
    }
    bool open(char bracket) {
        if (open_.empty())
            was_object_ = bracket == '{';
        separate();
        out_ += bracket;
        open_.push_back(bracket);
        first_.push_back(true);
        return true;
    }
    bool close(char bracket) {
        out_ += bracket;
        open_.pop_back();
        first_.pop_back();
        return true;
    }

    const StringRewrite& rewrite_;
    std::string out_;
    std::vector<char> open_;   // the brackets open, outermost first
    std::vector<bool> first_;  // per open level: nothing written in it yet
    std::string member_;       // the top-level member being read
    bool after_key_ = false;
    bool was_object_ = false;
    bool rewritten_ = false;
};

}  // namespace

std::optional<std::string> with_strings_rewritten(std::string_view object,
                                                  const StringRewrite& rewrite) {
    RespellingWriter writer(rewrite);
    if (!nlohmann::json::sax_parse(object, &writer) || !writer.was_object() || !writer.rewritten())
        return std::nullopt;
    return writer.take();
}

std::vector<TableChanges> collapse(const std::vector<Change>& batch) {
    std::vector<TableChanges> tables;
    std::map<std::string, size_t> table_index;
    // Per table: key -> index into its rows.
    std::vector<std::unordered_map<std::string, size_t>> row_index;
    for (const Change& change : batch) {
        auto [found, added] = table_index.emplace(change.table, tables.size());
        if (added) {
            tables.push_back({change.table, false, {}});
            row_index.emplace_back();
        }
        TableChanges& table = tables[found->second];
        auto& rows = row_index[found->second];
        if (change.op == Operation::truncate) {
            // What came before no longer matters: the table is emptied
            // first (unless the target emptied it itself).
            table.truncated = !change.echo;
            table.rows.clear();
            rows.clear();
            continue;
        }
        if (change.echo) {
            auto settled = rows.find(change.key);
            if (settled != rows.end()) {
                table.rows[settled->second].key.clear();  // dropped below
                rows.erase(settled);
            }
            continue;
        }
        auto [at, first] = rows.emplace(change.key, table.rows.size());
        if (first) {
            NetChange net;
            net.key = change.key;
            net.first = change.op;
            if (change.op != Operation::insert)
                net.old_hash = change.old_hash;
            if (change.op == Operation::remove)
                net.first_row = change.old_row;
            table.rows.push_back(std::move(net));
        }
        NetChange& net = table.rows[at->second];
        if (!first && net.first == Operation::update && !net.first_row)
            net.first_row = net.row;
        if (!first && change.old_hash)
            net.passed_hashes.push_back(*change.old_hash);
        if (!first && change.op == Operation::insert)
            net.passed_absent = true;
        if (change.op == Operation::remove)
            net.row.reset();
        else
            net.row = change.new_row;
        net.changed_at = change.changed_at;
    }
    for (auto& table : tables)
        table.rows.erase(std::remove_if(table.rows.begin(), table.rows.end(),
                                        [](const NetChange& net) { return net.key.empty(); }),
                         table.rows.end());
    return tables;
}

Policy policy_from(const std::string& text) {
    if (text == "source-wins")
        return Policy::source_wins;
    if (text == "target-wins")
        return Policy::target_wins;
    if (text == "latest-wins")
        return Policy::latest_wins;
    if (text == "manual")
        return Policy::manual;
    throw Error(ErrorKind::invalid_input, "unknown conflict policy \"" + text + "\"", {},
                "Use source-wins, target-wins, latest-wins or manual.");
}

const char* policy_name(Policy policy) {
    switch (policy) {
        case Policy::source_wins:
            return "source-wins";
        case Policy::target_wins:
            return "target-wins";
        case Policy::latest_wins:
            return "latest-wins";
        case Policy::manual:
            return "manual";
    }
    return "?";
}

Policy reversed(Policy policy) {
    if (policy == Policy::source_wins)
        return Policy::target_wins;
    if (policy == Policy::target_wins)
        return Policy::source_wins;
    return policy;
}

const std::string* old_row_columns(const NetChange& change) {
    if (change.first == Operation::remove)
        return change.first_row ? &*change.first_row : nullptr;
    if (change.first != Operation::update)
        return nullptr;
    const std::optional<std::string>& row = change.first_row ? change.first_row : change.row;
    return row ? &*row : nullptr;
}

std::vector<std::vector<std::string>> column_sets_before_added(
    const NetChange& change, const std::vector<std::string>& target_columns,
    const std::string& target_row, const std::vector<std::string>& at_default) {
    const std::string* logged = old_row_columns(change);
    nlohmann::json row = nlohmann::json::parse(logged ? *logged : target_row, nullptr, false);
    if (!row.is_object())
        return {};
    std::vector<std::vector<std::string>> sets;
    if (logged) {
        std::vector<std::string> columns;
        for (const std::string& column : target_columns)
            if (row.contains(column))
                columns.push_back(column);
        if (columns.size() < target_columns.size())
            sets.push_back(std::move(columns));
        return sets;
    }
    for (size_t kept = target_columns.size(); kept > 0; kept--) {
        const std::string& column = target_columns[kept - 1];
        auto found = row.find(column);
        bool as_added = found != row.end() &&
                        (found->is_null() || std::find(at_default.begin(), at_default.end(),
                                                       column) != at_default.end());
        if (!as_added)
            break;
        sets.emplace_back(target_columns.begin(), target_columns.begin() + (kept - 1));
    }
    return sets;
}

namespace {

// Whether the target holds what the source had before the batch (the old
// row, by its hash, or no row before an insert), or a state the source
// passed through during the batch: then the target is only behind.
bool unchanged_since(const NetChange& change, const TargetRow& target) {
    std::optional<int64_t> expected;
    if (change.first != Operation::insert)
        expected = change.old_hash;
    if (target.hash == expected)
        return true;
    const auto& passed = change.passed_hashes;
    if (target.hash ? std::find(passed.begin(), passed.end(), *target.hash) != passed.end()
                    : change.passed_absent)
        return true;
    const auto& others = target.hashes_without_added_columns;
    return expected && std::find(others.begin(), others.end(), *expected) != others.end();
}

bool source_is_later(const NetChange& change, const TargetRow& target,
                     const std::string& source_peer, const std::string& target_peer) {
    // A target row that changed without a logged local change (an untracked
    // writer, or a purged log) has no time to weigh: the source's is newer.
    if (!target.last_changed || change.changed_at > *target.last_changed)
        return true;
    if (change.changed_at < *target.last_changed)
        return false;
    return source_peer > target_peer;
}

}  // namespace

Verdict judge(const NetChange& change, const TargetRow& target, Policy policy,
              const std::string& source_peer, const std::string& target_peer) {
    if (target.in_filter == false) {
        // The row leaves the target: cleanly when the target holds what the
        // source had; a target that changed it too is a conflict, whose
        // conflict_apply deletes it (the source's version is "not here").
        if (!target.hash)
            return Verdict::already_done;
        if (unchanged_since(change, target))
            return Verdict::moved_out;
    } else {
        bool final_state_there =
            change.row ? (target.hash && target.new_hash == target.hash) : !target.hash.has_value();
        if (final_state_there)
            return Verdict::already_done;
        if (unchanged_since(change, target) || (target.in_filter == true && !target.hash))
            return Verdict::apply;
    }
    switch (policy) {
        case Policy::source_wins:
            return Verdict::conflict_apply;
        case Policy::target_wins:
            return Verdict::conflict_keep;
        case Policy::manual:
            return Verdict::conflict_open;
        case Policy::latest_wins:
            return source_is_later(change, target, source_peer, target_peer)
                       ? Verdict::conflict_apply
                       : Verdict::conflict_keep;
    }
    return Verdict::conflict_open;
}

bool is_conflict(Verdict verdict) {
    return verdict == Verdict::conflict_apply || verdict == Verdict::conflict_keep ||
           verdict == Verdict::conflict_open;
}

}  // namespace ferry::changes
