// Parsing and evaluating `where` filters (see row_filter.hpp).
#include "row_filter.hpp"

#include <string>

#include "boundary.hpp"

namespace ferry::pg {
namespace {

[[noreturn]] void refuse(const std::string& why, const char* hint) {
    throw SqlError(ERRCODE_INVALID_PARAMETER_VALUE, "invalid where condition: " + why,
                   "A where condition is one boolean expression over the table's columns.", hint);
}

bool is_blank(const char* text) {
    for (; *text; text++)
        if (!isspace(static_cast<unsigned char>(*text)))
            return false;
    return true;
}

// Rewords the parser's error so that it says what was being parsed and
// points nowhere: its position would be in ferry's wrapper text, not in the
// statement the user wrote. The error is still raised as PostgreSQL's own.
void explain_syntax_error(ErrorData* error, size_t end_of_condition) {
    bool at_end = error->cursorpos <= 0 || static_cast<size_t>(error->cursorpos) > end_of_condition;
    pg::call([&]() noexcept {
        error->message = at_end ? pstrdup("invalid where condition: it ends too early")
                                : psprintf("invalid where condition: %s", error->message);
        error->detail =
            pstrdup("A where condition is one boolean expression over the table's columns.");
        error->hint = pstrdup("Write a condition such as: id > 100");
        error->cursorpos = 0;
        error->internalpos = 0;
        error->internalquery = nullptr;
    });
}

// The raw expression of "SELECT (where)", provided that is all the text
// holds: one statement, one target, no other clause.
Node* parse_single_expression(const std::string& where) {
    const std::string prefix = "SELECT (";
    std::string sql = prefix + where + "\n)";
    List* statements = nullptr;
    try {
        statements =
            pg::value([&]() noexcept { return raw_parser(sql.c_str(), RAW_PARSE_DEFAULT); });
    } catch (const PgError& e) {
        if (e.data()->sqlerrcode == ERRCODE_SYNTAX_ERROR)
            explain_syntax_error(e.data(), prefix.size() + where.size());
        throw;
    }
    if (list_length(statements) != 1)
        refuse("it holds more than one statement", "Remove the semicolon and what follows it.");
    Node* statement = linitial_node(RawStmt, statements)->stmt;
    if (!IsA(statement, SelectStmt))
        refuse("it is not an expression", "Write a condition such as: id > 100");
    auto* select = reinterpret_cast<SelectStmt*>(statement);
    bool only_target = select->op == SETOP_NONE && list_length(select->targetList) == 1 &&
                       select->fromClause == NIL && select->whereClause == nullptr &&
                       select->groupClause == NIL && select->havingClause == nullptr &&
                       select->windowClause == NIL && select->valuesLists == NIL &&
                       select->sortClause == NIL && select->limitCount == nullptr &&
                       select->limitOffset == nullptr && select->lockingClause == NIL &&
                       select->withClause == nullptr && select->distinctClause == NIL &&
                       select->intoClause == nullptr;
    if (!only_target)
        refuse("it is more than one expression", "Write a condition such as: id > 100");
    auto* target = linitial_node(ResTarget, select->targetList);
    return target->val;
}

}  // namespace

RowFilter::RowFilter(Relation rel, const char* where) {
    if (!where || is_blank(where))
        return;
    Node* raw = parse_single_expression(where);
    Expr* condition = pg::value([&]() noexcept {
        ParseState* pstate = make_parsestate(nullptr);
        ParseNamespaceItem* item =
            addRangeTableEntryForRelation(pstate, rel, AccessShareLock, nullptr, false, false);
        addNSItemToQuery(pstate, item, false, true, true);
        // Rejects aggregates, window functions and set-returning functions,
        // and coerces the result to boolean.
        Node* qual = transformWhereClause(pstate, raw, EXPR_KIND_WHERE, "WHERE");
        assign_expr_collations(pstate, qual);
        free_parsestate(pstate);
        return reinterpret_cast<Expr*>(qual);
    });
    bool has_subquery = pg::value(
        [&]() noexcept { return checkExprHasSubLink(reinterpret_cast<Node*>(condition)); });
    if (has_subquery)
        refuse("it contains a subquery", "Compare the table's own columns only.");
    bool volatile_call = pg::value(
        [&]() noexcept { return contain_volatile_functions(reinterpret_cast<Node*>(condition)); });
    if (volatile_call)
        refuse("it calls a volatile function",
               "Use immutable or stable functions only; a filter must not change anything.");
    pg::call([&]() noexcept {
        estate_ = CreateExecutorState();
        MemoryContext old = MemoryContextSwitchTo(estate_->es_query_cxt);
        qual_ = ExecPrepareQual(list_make1(expression_planner(condition)), estate_);
        econtext_ = GetPerTupleExprContext(estate_);
        MemoryContextSwitchTo(old);
    });
}

bool RowFilter::matches(TupleTableSlot* slot) {
    if (!qual_)
        return true;
    return pg::value([&]() noexcept {
        ResetExprContext(econtext_);
        econtext_->ecxt_scantuple = slot;
        return ExecQual(qual_, econtext_);
    });
}

void RowFilter::finish() {
    if (estate_)
        pg::call([&]() noexcept { FreeExecutorState(estate_); });
    estate_ = nullptr;
    qual_ = nullptr;
}

}  // namespace ferry::pg
