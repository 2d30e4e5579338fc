// Projections, aggregation expressions and the aggregation stages the stand-in supports:
// $match $project $addFields/$set $unset $sort $skip $limit $count $group
// $replaceRoot/$replaceWith.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "bson_util.hpp"

namespace standin {

// find-style projection. Errors: 31254 exclusion in an inclusion projection, 31253 the reverse.
Result<Doc> apply_projection(const bson_t* doc, const bson_t* projection,
                             const Vars* vars = nullptr);
Status validate_projection(const bson_t* projection);

// "a.b.c" as {"a", "b", "c"} (an empty string is one empty part).
std::vector<std::string> split_path(const std::string& s);

// Evaluates an aggregation expression against a document; nullopt when it yields "missing".
// VARS (may be null) are the command's let variables ($$name).
Result<std::optional<Node>> eval_expression(const Node& root, const bson_iter_t* expr,
                                            const Vars* vars = nullptr);

// The command's `let` document as variables: each value is an expression evaluated without a
// document. Error 2 when LET is not a document, or a name the server refuses.
Result<Vars> parse_let(const bson_iter_t* let);

// Runs `stages` (a BSON array of stage documents) over `docs` in order.
// Errors: 40324 unknown stage, 40602 $changeStream not first, 2/9 malformed stage arguments.
Result<std::vector<DocPtr>> run_stages(std::vector<DocPtr> docs, const bson_t* stages,
                                       const Vars* vars = nullptr);

// The $group stage (its specification at SPEC) over DOCS.
// Errors: 15947/15955/40234 malformed specification, 15952 unknown accumulator.
Result<std::vector<DocPtr>> run_group(const std::vector<DocPtr>& docs, const bson_iter_t* spec,
                                      const Vars* vars = nullptr);

// Checks stage names and shapes without data (so errors surface on aggregate, not later).
Status validate_stages(const bson_t* stages, bool change_stream, const Vars* vars = nullptr);

}  // namespace standin
